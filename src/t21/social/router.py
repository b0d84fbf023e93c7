"""`/api/v1/social-accounts` and `/api/v1/platforms`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Cookie, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from t21.core.deps import DbSession
from t21.core.errors import BadRequest, NotFound, ValidationFailed
from t21.core.outside import ReauthRequired
from t21.core.pagination import PageParams
from t21.core.problems import problem_response
from t21.core.redirects import with_params
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.core.uow import session_scope
from t21.organizations.auth import CurrentPrincipal
from t21.platforms import registry
from t21.platforms.base import CHOICE_KINDS, MediaRule, PushedAuthorizer, pushed_authorizer
from t21.social import connect, service
from t21.social.instances import callback_url
from t21.social.schemas import (
    ChoiceList,
    ChoiceOut,
    ConnectCompleteIn,
    ConnectIn,
    ConnectOut,
    MediaRuleOut,
    PlatformList,
    PlatformOut,
    SocialAccountList,
    SocialAccountOut,
)

router = APIRouter(prefix="/social-accounts", tags=["social accounts"])
platforms_router = APIRouter(prefix="/platforms", tags=["social accounts"])


CONNECT_COOKIE = "t21_connect_browser"
CONNECT_PATH = "/api/v1/social-accounts"


@router.post(
    "/connect",
    responses={
        201: {
            "model": SocialAccountList,
            "description": "Connected at once: a network that takes `credentials`.",
        }
    },
)
async def start_connection(
    body: ConnectIn,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: DbSession,
) -> ConnectOut | SocialAccountList:
    """Where to send the browser to connect an account of `platform` to the brand (admins).
    The state is signed, works once, and expires in 10 minutes.

    The response sets a cookie that binds the connection to this browser (a front end calls
    this with credentials included): the network's callback completes at once only in the
    browser that carries it. Otherwise the callback lands on the front end with a one-time
    `?connect_code=`, which the same signed-in user posts to `/connect/complete` — the way for
    an API client that starts the connection from a server.

    A network that connects without a redirect takes `credentials` instead (a handle and an app
    password, say): the account is connected at once and the answer is 201 with it."""
    settings = request.app.state.settings
    runtime = request.app.state.runtime
    platform = _known(body.platform)
    provider = registry.configured_provider(runtime, platform)
    given = body.credentials or {}
    # Bluesky with OAuth configured: a handle alone (or nothing) signs in at the network.
    login_hint = given.get("handle") if set(given) <= {"handle"} else None
    pushed = pushed_authorizer(provider) is not None and set(given) <= {"handle"}
    if connect.connects_with_credentials(provider) and not pushed:
        accounts = await connect.with_credentials(
            session,
            runtime,
            principal,
            brand_id=body.brand_id,
            platform=platform,
            credentials=body.credentials,
        )
        response.status_code = 201
        return SocialAccountList(items=[SocialAccountOut.of(account) for account in accounts])
    if body.credentials is not None and not pushed:
        name = registry.display_name(platform)
        message = f"{name} connects through a redirect and takes no `credentials`."
        raise ValidationFailed(message, errors=[{"loc": ["body", "credentials"], "msg": message}])
    url, browser = await connect.start(
        session,
        runtime,
        principal,
        brand_id=body.brand_id,
        platform=platform,
        redirect_uri=body.redirect_uri,
        instance=body.instance,
        login_hint=login_hint,
    )
    response.set_cookie(
        CONNECT_COOKIE,
        browser,
        max_age=int(connect.ATTEMPT_TTL.total_seconds()),
        httponly=True,
        secure=settings.resolved_public_url.startswith("https://"),
        samesite="lax",
        path=CONNECT_PATH,
    )
    return ConnectOut(authorization_url=url)


@router.post("/connect/complete", status_code=201, openapi_extra=IDEMPOTENT)
async def complete_connection(
    body: ConnectCompleteIn, request: Request, principal: CurrentPrincipal
) -> SocialAccountList:
    """Finish a connection whose callback came back without this browser's cookie: `code` is
    the `connect_code` the front end received. Only the user who started the connection may,
    once, within its 10 minutes; the connected accounts are returned."""
    try:
        accounts = await connect.complete(request.app.state.runtime, principal, body.code)
    except connect.ConnectFailure as failure:
        raise connect.as_problem(failure) from None
    return SocialAccountList(items=[SocialAccountOut.of(account) for account in accounts])


def _known(platform: str) -> str:
    if platform not in registry.names():
        message = f"Unknown platform {platform!r}; one of {', '.join(registry.names())}."
        raise ValidationFailed(message, errors=[{"loc": ["body", "platform"], "msg": message}])
    return platform


@router.get("/callback/{platform}", status_code=302, response_model=None)
async def finish_connection(
    platform: str,
    request: Request,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    iss: Annotated[str | None, Query(max_length=2048)] = None,
    browser: Annotated[str | None, Cookie(alias=CONNECT_COOKIE, include_in_schema=False)] = None,
) -> Response:
    """Where the network sends the browser back; it continues to the front end with
    `?connected=<ids>` or `?error=<code>` (`quota_exceeded` also names `limit`, `used`,
    `allowed` and `tier`), or, in a browser other than the one that started the connection,
    with a one-time `?connect_code=` for `/connect/complete`."""
    try:
        target = await connect.finish(
            request.app.state.runtime,
            platform,
            code=code,
            state=state,
            provider_error=error,
            browser=browser,
            issuer=iss,
        )
    except connect.ConnectFailure as failure:
        if failure.redirect_uri is None:
            refusal = BadRequest(failure.message)
            return problem_response(refusal, request_id=request.state.request_id)
        target = with_params(failure.redirect_uri, error=failure.code, **failure.details)
    return RedirectResponse(target, status_code=302)


def _authorizer(request: Request, platform: str) -> PushedAuthorizer:
    provider = registry.configured_provider(request.app.state.runtime, _known(platform))
    pushed = pushed_authorizer(provider)
    if pushed is None:
        raise NotFound(f"{platform} has no OAuth client documents here.")
    return pushed


@router.get("/oauth/{platform}/client-metadata.json", include_in_schema=False)
async def client_metadata(platform: str, request: Request) -> JSONResponse:
    """T21's client metadata document (AT Protocol OAuth: its URL is T21's client_id),
    fetched by the network's authorization server; 404 where OAuth isn't configured."""
    settings = request.app.state.settings
    document = _authorizer(request, platform).client_metadata(
        callback_url(settings, platform), settings.resolved_public_url
    )
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth/{platform}/jwks.json", include_in_schema=False)
async def client_jwks(platform: str, request: Request) -> JSONResponse:
    """The public key T21 signs its client assertions with."""
    keys = _authorizer(request, platform).client_jwks()
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.get("")
async def list_accounts(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    brand_id: Annotated[uuid.UUID | None, Query()] = None,
) -> SocialAccountList:
    accounts, next_cursor = await service.list_accounts(session, principal, page, brand_id)
    return SocialAccountList(
        items=[SocialAccountOut.of(account) for account in accounts], next_cursor=next_cursor
    )


@router.get("/{account_id}")
async def get_account(
    account_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> SocialAccountOut:
    return SocialAccountOut.of(await service.get_account(session, principal, account_id))


@router.delete("/{account_id}", status_code=204)
async def disconnect(
    account_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> Response:
    """Disconnect the account, revoking its tokens at the network where it allows (admins)."""
    await service.disconnect(request.app.state.runtime, principal, account_id)
    return Response(status_code=204)


@router.post("/{account_id}/refresh")
async def refresh(
    account_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> SocialAccountOut:
    """Refresh the account's tokens now (admins). An account the network refused becomes
    `reauth_required` and is returned as such."""
    runtime = request.app.state.runtime
    try:
        account = await service.force_refresh(runtime, principal, account_id)
    except ReauthRequired:
        async with session_scope(runtime) as session:
            account = await service.get_account(session, principal, account_id)
    return SocialAccountOut.of(account)


def _choices_route(kind: str) -> None:
    async def list_choices(
        account_id: uuid.UUID, request: Request, principal: CurrentPrincipal
    ) -> ChoiceList:
        choices = await service.list_choices(request.app.state.runtime, principal, account_id, kind)
        return ChoiceList(items=[ChoiceOut(id=choice.id, name=choice.name) for choice in choices])

    list_choices.__doc__ = (
        f"The account's {kind}, asked of the network now: the values its posts may name in "
        f"`options`. 404 when the account's network has no {kind}; 409 `reauth_required` while "
        "the account must be reconnected."
    )
    router.get(f"/{{account_id}}/{kind}", name=f"list_{kind}")(list_choices)


for _kind in CHOICE_KINDS:
    _choices_route(_kind)


def _rule(rule: MediaRule | None) -> MediaRuleOut | None:
    if rule is None:
        return None
    return MediaRuleOut(
        content_types=sorted(rule.content_types),
        max_size_bytes=rule.max_size_bytes,
        min_aspect=rule.min_aspect,
        max_aspect=rule.max_aspect,
        min_duration_s=rule.min_duration_s,
        max_duration_s=rule.max_duration_s,
    )


@platforms_router.get("")
async def list_platforms(request: Request) -> PlatformList:
    """Every network, what it accepts in a post, and whether accounts can be connected here."""
    runtime = request.app.state.runtime
    items = []
    for name in registry.names():
        provider = registry.provider_class(name)
        limits = provider.limits
        available = (
            registry.platform_config(runtime.settings, name, registry.sandbox_url(runtime))
            is not None
        )
        items.append(
            PlatformOut(
                name=name,
                display_name=provider.display_name,
                available=available,
                max_text=limits.max_text,
                text_counting=limits.text_counting.value,
                requires_media=limits.requires_media,
                max_images=limits.max_images,
                max_videos=limits.max_videos,
                mixed_media=limits.mixed_media,
                min_multi_images=limits.min_multi_images,
                image=_rule(limits.image),
                video=_rule(limits.video),
                options=provider.options.model_json_schema(),
                supports_threads=bool(getattr(provider, "supports_threads", False)),
                supports_first_comment=bool(getattr(provider, "supports_first_comment", False)),
                max_comment=getattr(provider, "max_comment", None),
            )
        )
    return PlatformList(items=items)
