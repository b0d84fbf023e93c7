"""The operator console at /admin: server-rendered pages (Jinja2, autoescaped), no script, one
style sheet served here, a strict Content-Security-Policy. Staff only: anyone else is sent to
the sign-in page, and a sign-in by someone who isn't staff is refused (403).

Every form posts a CSRF token (`sessions`); a missing or wrong one is a 403 that changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from t21.admin import queries, service, sessions
from t21.admin.sessions import StaffSession
from t21.core.errors import Forbidden, T21Error, ValidationFailed
from t21.core.ratelimit import client_ip
from t21.core.routing import APIRouter
from t21.core.runtime import Runtime
from t21.core.security import decode_access_token
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity import service as identity
from t21.identity import twofactor
from t21.identity.errors import InvalidSecondFactor
from t21.identity.models import User
from t21.identity.throttle import LoginThrottle
from t21.notifications.models import EmailStatus
from t21.publishing.schemas import ResolvedNotPublished, ResolvedPublished
from t21.webhooks.models import DeliveryStatus

STATIC = files("t21.admin") / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
NOTICES = {
    "resolved": "The target is resolved.",
    "retried": "The target is due again now.",
    "redelivered": "The delivery is due again now.",
    "signed-out": "You are signed out.",
}

_templates = Environment(
    loader=PackageLoader("t21.admin", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


_templates.filters["when"] = _when


def _page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = _templates.get_template(template).render(notice=notice, **context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-store"},
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _local(path: str | None, default: str = "/admin") -> str:
    """`path` if it is a page of the console (never another site), else `default`."""
    if path and path.startswith("/admin") and "//" not in path and "\\" not in path:
        return path
    return default


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


async def _signed_in(request: Request) -> StaffSession | None:
    async with session_scope(_runtime(request)) as session:
        return await sessions.load(
            session, _settings(request), request.cookies.get(sessions.SESSION_COOKIE)
        )


def _to_sign_in(request: Request) -> RedirectResponse:
    return RedirectResponse(
        "/admin/sign-in?" + urlencode({"next": _here(request)}), status_code=303
    )


def _view(request: Request, staff: StaffSession, template: str, **context: Any) -> HTMLResponse:
    return _page(
        request,
        template,
        staff=staff.user,
        csrf=staff.csrf_token(_settings(request)),
        here=_here(request),
        **context,
    )


async def _read_form(request: Request) -> FormData:
    """The posted form; a field holding a NUL character is a 422 (as in JSON bodies)."""
    form = await request.form()
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            message = "Text may not contain NUL characters (\\u0000)."
            raise ValidationFailed(message, errors=[{"loc": ["body", name], "msg": message}])
    return form


async def _staff_form(request: Request) -> tuple[StaffSession, FormData]:
    """The signed-in staff member posting a form with the right CSRF token, or a 403."""
    staff = await _signed_in(request)
    if staff is None:
        raise Forbidden("Sign in to the console as staff first.")
    form = await _read_form(request)
    given = form.get("csrf")
    if not sessions.tokens_match(
        staff.csrf_token(_settings(request)), given if isinstance(given, str) else None
    ):
        raise Forbidden("The form's CSRF token is missing or wrong: reload the page and retry.")
    return staff, form


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _uuid_param(request: Request, name: str) -> uuid.UUID | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        message = f"`{name}` must be an id."
        raise ValidationFailed(message, errors=[{"loc": ["query", name], "msg": message}]) from None


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str | None) -> Any:
    raw = request.query_params.get(name) or default
    if raw is not None and raw not in allowed:
        message = f"`{name}` must be one of {', '.join(allowed)}."
        raise ValidationFailed(message, errors=[{"loc": ["query", name], "msg": message}])
    return raw


def _done(form: FormData, notice: str) -> RedirectResponse:
    back = _local(_field(form, "return_to"))
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}notice={notice}", status_code=303)


router = APIRouter(prefix="/admin", include_in_schema=False)


# --- signing in and out ----------------------------------------------------------------------


def _sign_in_form(
    request: Request, *, error: str | None = None, status: int = 200, email: str = ""
) -> HTMLResponse:
    token = request.cookies.get(sessions.FORM_COOKIE) or sessions.new_form_token()
    response = _page(
        request,
        "sign_in.html",
        status=status,
        error=error,
        email=email,
        csrf=token,
        next=_local(request.query_params.get("next")),
    )
    response.set_cookie(
        sessions.FORM_COOKIE,
        token,
        path=sessions.COOKIE_PATH,
        httponly=True,
        secure=_settings(request).is_production,
        samesite="strict",
    )
    return response


async def _sign_in_post(request: Request) -> FormData:
    form = await _read_form(request)
    given = form.get("csrf")
    if not sessions.tokens_match(
        request.cookies.get(sessions.FORM_COOKIE), given if isinstance(given, str) else None
    ):
        raise Forbidden("The form's CSRF token is missing or wrong: reload the page and retry.")
    return form


def _signed_in_response(
    request: Request, user: User, access_token: str, next_page: str
) -> RedirectResponse:
    settings = _settings(request)
    session_id = decode_access_token(settings, access_token).session_id
    assert session_id is not None
    response = RedirectResponse(_local(next_page), status_code=303)
    response.set_cookie(
        sessions.SESSION_COOKIE,
        sessions.issue(settings, user.id, session_id),
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        path=sessions.COOKIE_PATH,
        httponly=True,
        secure=settings.is_production,
        samesite="strict",
    )
    response.delete_cookie(sessions.FORM_COOKIE, path=sessions.COOKIE_PATH)
    return response


def _not_staff(request: Request) -> HTMLResponse:
    return _page(request, "not_staff.html", status=403)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await _signed_in(request) is not None:
        return RedirectResponse(_local(request.query_params.get("next")), status_code=303)
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Email and password; then the second factor when the account has one."""
    form = await _sign_in_post(request)
    email = _field(form, "email") or ""
    password = form.get("password")
    next_page = _local(_field(form, "next"))
    settings = _settings(request)
    throttle = LoginThrottle(request.app.state.rate_limiter, settings)
    try:
        async with session_scope(_runtime(request)) as session:
            signed = await identity.authenticate(
                session,
                settings,
                throttle,
                email=email,
                password=password if isinstance(password, str) else "",
                ip=client_ip(request.scope),
            )
            if isinstance(signed, identity.SecondFactorNeeded):
                user = await twofactor.challenge_user(session, signed.challenge)
                if not user.is_staff:
                    return _not_staff(request)
                return _page(
                    request,
                    "second_factor.html",
                    challenge=signed.challenge,
                    csrf=form.get("csrf"),
                    next=next_page,
                    error=None,
                )
            if not signed.user.is_staff:
                await identity.logout(session, signed.refresh_token)
                return _not_staff(request)
    except T21Error as error:
        return _sign_in_form(request, error=error.detail, status=error.status, email=email)
    return _signed_in_response(request, signed.user, signed.access_token, next_page)


@router.post("/sign-in/second-factor")
async def second_factor(request: Request) -> Response:
    form = await _sign_in_post(request)
    challenge = _field(form, "challenge") or ""
    code = _field(form, "code")
    next_page = _local(_field(form, "next"))
    settings = _settings(request)
    throttle = LoginThrottle(request.app.state.rate_limiter, settings)
    try:
        async with session_scope(_runtime(request)) as session:
            signed = await identity.verify_second_factor(
                session,
                settings,
                throttle,
                challenge=challenge,
                code=code if code and code.replace(" ", "").isdigit() else None,
                recovery_code=code if code and not code.replace(" ", "").isdigit() else None,
                ip=client_ip(request.scope),
            )
    except T21Error as error:
        return _sign_in_form(request, error=error.detail, status=error.status)
    if isinstance(signed, InvalidSecondFactor):
        return _page(
            request,
            "second_factor.html",
            status=signed.status,
            challenge=challenge,
            csrf=form.get("csrf"),
            next=next_page,
            error=signed.detail,
        )
    if not signed.user.is_staff:
        return _not_staff(request)
    return _signed_in_response(request, signed.user, signed.access_token, next_page)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    staff, _form = await _staff_form(request)
    async with session_scope(_runtime(request)) as session:
        await identity.end_sign_in(session, staff.user.id, staff.session_id)
    response = RedirectResponse("/admin/sign-in?notice=signed-out", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path=sessions.COOKIE_PATH)
    return response


@router.get("/admin.css")
async def style() -> Response:
    return Response(
        (STATIC / "admin.css").read_bytes(),
        media_type="text/css",
        headers={"cache-control": "no-cache"},
    )


# --- pages -------------------------------------------------------------------------------------


@router.get("")
async def search(request: Request) -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    query = request.query_params.get("q", "")[:200]
    async with session_scope(_runtime(request)) as session:
        results = await queries.search(session, query)
    return _view(request, staff, "search.html", query=query, results=results)


@router.get("/organizations/{organization_id}")
async def organization(request: Request, organization_id: uuid.UUID) -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    async with session_scope(_runtime(request)) as session:
        detail = await queries.organization(
            session, _settings(request), staff.user, organization_id
        )
    if detail is None:
        return _view(request, staff, "missing.html", what="organization")
    return _view(request, staff, "organization.html", detail=detail)


@router.get("/pipeline")
async def pipeline(request: Request) -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    criteria = queries.TargetFilter(
        status=_choice(request, "status", queries.PIPELINE, "needs_review"),
        platform=request.query_params.get("platform") or None,
        organization_id=_uuid_param(request, "organization_id"),
        before=_uuid_param(request, "before"),
    )
    async with session_scope(_runtime(request)) as session:
        counts = await queries.pipeline_counts(session, criteria.organization_id)
        reasons = await queries.failure_reasons(session, criteria.organization_id)
        page = await queries.targets(session, criteria)
    return _view(
        request,
        staff,
        "pipeline.html",
        columns=queries.PIPELINE,
        counts=counts,
        reasons=reasons,
        criteria=criteria,
        page=page,
        more=_more(request, page.next_before),
    )


def _more(request: Request, before: uuid.UUID | None) -> str | None:
    """The address of the next page, or None on the last one."""
    if before is None:
        return None
    params = dict(request.query_params)
    params.pop("notice", None)
    params["before"] = str(before)
    return f"{request.url.path}?{urlencode(params)}"


@router.get("/loops")
async def loops(request: Request) -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    return _view(request, staff, "loops.html", loops=queries.loops(_settings(request)))


# A page of rows filtered by status (None for all) and paged by the id to start before.
StatusRows = Callable[[AsyncSession, str | None, uuid.UUID | None], Awaitable[queries.Page[Any]]]


async def _rows_by_status(
    request: Request, template: str, statuses: tuple[str, ...], rows: StatusRows
) -> Response:
    """A list page of `rows`, filtered by `?status=` (one of `statuses`) and paged by
    `?before=`, for the signed-in staff member."""
    staff = await _signed_in(request)
    if staff is None:
        return _to_sign_in(request)
    status = _choice(request, "status", statuses, None)
    async with session_scope(_runtime(request)) as session:
        page = await rows(session, status, _uuid_param(request, "before"))
    return _view(
        request,
        staff,
        template,
        shown_status=status,
        statuses=statuses,
        page=page,
        more=_more(request, page.next_before),
    )


@router.get("/webhooks")
async def webhooks(request: Request) -> Response:
    statuses = tuple(status.value for status in DeliveryStatus)
    return await _rows_by_status(request, "webhooks.html", statuses, queries.deliveries)


@router.get("/emails")
async def emails(request: Request) -> Response:
    statuses = tuple(status.value for status in EmailStatus)
    return await _rows_by_status(request, "emails.html", statuses, queries.emails)


# --- actions -----------------------------------------------------------------------------------


Action = Callable[[Runtime, User, FormData], Awaitable[object]]


async def _staff_action(request: Request, notice: str, action: Action) -> Response:
    """One console action: the signed-in staff member's form (CSRF checked, else 403 and
    nothing done), `action` (which audits itself), then back to the page the form came from
    with `notice`."""
    staff, form = await _staff_form(request)
    await action(_runtime(request), staff.user, form)
    return _done(form, notice)


def _decision(form: FormData) -> ResolvedPublished | ResolvedNotPublished:
    """`outcome` published (with the network's `external_id`) or not_published (`cancel`)."""
    outcome = _field(form, "outcome")
    if outcome == "published":
        external_id = _field(form, "external_id")
        if external_id is None or len(external_id) > 255:
            message = "Give the network's id of the post (up to 255 characters)."
            raise ValidationFailed(
                message, errors=[{"loc": ["body", "external_id"], "msg": message}]
            )
        return ResolvedPublished(outcome="published", external_id=external_id)
    if outcome == "not_published":
        return ResolvedNotPublished(outcome="not_published", action="cancel")
    message = "`outcome` must be published or not_published."
    raise ValidationFailed(message, errors=[{"loc": ["body", "outcome"], "msg": message}])


@router.post("/targets/{target_id}/resolve")
async def resolve_target(request: Request, target_id: uuid.UUID) -> Response:
    return await _staff_action(
        request,
        "resolved",
        lambda runtime, staff, form: service.resolve_target(
            runtime, staff, target_id, _decision(form)
        ),
    )


@router.post("/targets/{target_id}/retry")
async def retry_target(request: Request, target_id: uuid.UUID) -> Response:
    return await _staff_action(
        request,
        "retried",
        lambda runtime, staff, _form: service.retry_target(runtime, staff, target_id),
    )


@router.post("/deliveries/{delivery_id}/retry")
async def redeliver(request: Request, delivery_id: uuid.UUID) -> Response:
    return await _staff_action(
        request,
        "redelivered",
        lambda runtime, staff, _form: service.redeliver(runtime, staff, delivery_id),
    )
