"""A fake of a Mastodon instance (every instance name the sandbox is given reaches it), faithful
to Mastodon's paths, entities, status codes and `{"error": ...}` refusals (the server's
app/controllers/api, app/services/post_status_service.rb, config/initializers/rack_attack.rb):

- Apps: `POST /api/v1/apps` registers a client (name, redirect URIs, scopes). OAuth:
  `/.well-known/oauth-authorization-server` (PKCE S256, unless `/_control/settings` `pkce`
  is false: an instance older than 4.3, which answers 404), `GET /oauth/authorize` consents at
  once for the sandbox account, `POST /oauth/token` (single-use codes, client secret, redirect
  URI and verifier checked), `POST /oauth/revoke`. Tokens never expire.
- `GET /api/v1/accounts/verify_credentials`, `GET /api/v2/instance` (the text limit).
- `POST /api/v2/media` (multipart `file`): images are processed at once (200), videos answer
  202 and `GET /api/v1/media/:id` answers 206 for `processing_polls` reads, then 200.
- `POST /api/v1/statuses`: text or media required, its own count against `max_text`, up to 4
  media of the caller, processed, unattached, not images with a video; visibility and language
  checked. `Idempotency-Key`: a repeat by the same account within an hour answers the first
  status and creates nothing (post_status_service.rb). 300 statuses per 3 hours per account,
  30 media per 30 minutes, then 429 with `X-RateLimit-*` (the reset an ISO 8601 time).
- `GET /api/v1/statuses/:id`, `GET /api/v1/accounts/:id/statuses`.

`/_control` adds to the shared routes: `GET|POST /settings` (max_text, processing_polls, pkce,
status_limit, media_limit) and `POST /metrics` `{id, favourites_count?, reblogs_count?,
replies_count?}`.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.mastodon.counting import countable_length
from t21.sandbox.mastodon.state import (
    CODE_TTL_S,
    IDEMPOTENCY_TTL_S,
    MEDIA_PERIOD_S,
    STATUS_PERIOD_S,
    App,
    Code,
    MastodonState,
    Media,
    Refusal,
    Status,
)
from t21.sandbox.oauth import (
    ControlError,
    challenge_problem,
    control_body,
    control_error,
    optional,
    redirect_to,
    verifier_problem,
)
from t21.sandbox.platform import FaultMiddleware, control_routes

__all__ = ["MastodonState", "create_mastodon_app"]

KNOWN_SCOPES = frozenset(
    {
        "read", "write", "follow", "push", "profile",
        "read:accounts", "read:statuses", "read:notifications", "read:favourites",
        "write:statuses", "write:media", "write:favourites", "write:accounts",
    }
)  # fmt: skip
VISIBILITIES = ("public", "unlisted", "private", "direct")
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm"}
IMAGE_LIMIT = 16 * 1024 * 1024
VIDEO_LIMIT = 99 * 1024 * 1024
MAX_DESCRIPTION = 1500
SETTINGS: dict[str, type[Any]] = {
    "max_text": int,
    "processing_polls": int,
    "pkce": bool,
    "status_limit": int,
    "media_limit": int,
}


def _iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _params(request: Request) -> tuple[dict[str, Any], FormData | None]:
    """A request's parameters, as JSON or a (multipart) form, as Rails reads either."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise Refusal(400, "Error while parsing JSON") from None
        return (body if isinstance(body, dict) else {}), None
    form = await request.form()
    values: dict[str, Any] = {}
    for key in form:
        items = form.getlist(key)
        if key.endswith("[]"):
            values[key[:-2]] = items
        else:
            values[key] = items[-1]
    return values, form


def _window(
    state: MastodonState, bucket: str, account: str, limit: int, period: float
) -> dict[str, str]:
    """Count one request in a fixed window (as Rack::Attack does); the headers to answer, or a
    429 when the window is spent."""
    now = time.time()
    start = now - now % period
    seen = [t for t in state.windows.get((bucket, account), []) if t >= start]
    reset = _iso(start + period)
    if len(seen) >= limit:
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": reset}  # fmt: skip
        raise Refusal(429, "Too many requests", headers=headers)
    seen.append(now)
    state.windows[(bucket, account)] = seen
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit - len(seen)),
            "X-RateLimit-Reset": reset}  # fmt: skip


def _account(state: MastodonState, request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "id": state.account_id,
        "username": state.username,
        "acct": state.username,
        "display_name": "T21 Sandbox",
        "url": f"{base}/@{state.username}",
        "avatar": f"{base}/avatars/original/missing.png",
        "created_at": "2022-11-14T00:00:00.000Z",
        "statuses_count": len(state.statuses),
    }


def _status(state: MastodonState, request: Request, status: Status) -> dict[str, Any]:
    state.grow(
        status.counts, post_key=status.id, published_at=status.created_at, names=list(status.counts)
    )
    base = _base(request)
    paragraphs = "".join(f"<p>{_escape(part)}</p>" for part in status.text.split("\n\n") if part)
    return {
        "id": status.id,
        "created_at": _iso(status.created_at),
        "in_reply_to_id": status.in_reply_to_id,
        "sensitive": status.sensitive,
        "spoiler_text": status.spoiler_text,
        "visibility": status.visibility,
        "language": status.language,
        "uri": f"{base}/users/{state.username}/statuses/{status.id}",
        "url": f"{base}/@{state.username}/{status.id}",
        "content": paragraphs.replace("\n", "<br />"),
        "account": _account(state, request),
        "media_attachments": [state.media[m].entity(base) for m in status.media_ids],
        **status.counts,
    }


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _routes(state: MastodonState) -> list[Route]:
    async def create_app(request: Request) -> Response:
        params, _ = await _params(request)
        name = str(params.get("client_name") or "").strip()
        raw_uris = params.get("redirect_uris") or ""
        uris = raw_uris if isinstance(raw_uris, list) else str(raw_uris).split()
        problems = []
        if not name:
            problems.append("Application name can't be blank")
        if not uris:
            problems.append("Redirect URI can't be blank")
        for uri in uris:
            parts = urlsplit(str(uri))
            if uri != "urn:ietf:wg:oauth:2.0:oob" and (
                parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment
            ):
                problems.append("Redirect URI must be an absolute URI.")
        scopes = frozenset(str(params.get("scopes") or "read").split())
        if not scopes <= KNOWN_SCOPES:
            problems.append("Scopes are invalid")  # Doorkeeper's scopes validation
        if problems:
            raise Refusal(422, "Validation failed: " + ", ".join(problems))
        app = App(
            client_id=secrets.token_urlsafe(32),
            client_secret=secrets.token_urlsafe(32),
            name=name,
            redirect_uris=[str(u) for u in uris],
            scopes=scopes,
            website=params.get("website"),
        )
        state.apps[app.client_id] = app
        return JSONResponse(
            {
                "id": str(len(state.apps)),
                "name": app.name,
                "website": app.website,
                "scopes": sorted(app.scopes),
                "redirect_uri": "\n".join(app.redirect_uris),
                "redirect_uris": app.redirect_uris,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
            }
        )

    async def metadata(request: Request) -> Response:
        if not state.pkce:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        base = _base(request)
        return JSONResponse(
            {
                "issuer": f"{base}/",
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "scopes_supported": sorted(KNOWN_SCOPES),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
            }
        )  # fmt: skip

    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        app = state.apps.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if app is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if redirect_uri not in app.redirect_uris:
            return JSONResponse({"error": "invalid_redirect_uri"}, status_code=400)
        scopes = frozenset(params.get("scope", "read").split())
        reply: dict[str, str | None] = {"state": params.get("state")}
        if params.get("response_type") != "code":
            return redirect_to(redirect_uri, reply | {"error": "unsupported_response_type"})
        if not scopes <= app.scopes:
            return redirect_to(redirect_uri, reply | {"error": "invalid_scope"})
        # An instance before 4.3 has no PKCE: it ignores the challenge (and later the verifier).
        problem = challenge_problem(params, ("S256",)) if state.pkce else None
        if problem:
            return redirect_to(
                redirect_uri, reply | {"error": "invalid_request", "error_description": problem}
            )
        code = secrets.token_urlsafe(32)
        state.codes[code] = Code(
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            challenge=params.get("code_challenge") if state.pkce else None,
            method=params.get("code_challenge_method") if state.pkce else None,
            issued_at=time.time(),
        )
        return redirect_to(redirect_uri, reply | {"code": code})

    def _client(params: dict[str, Any]) -> App:
        app = state.apps.get(str(params.get("client_id") or ""))
        secret = str(params.get("client_secret") or "")
        if app is None or not hmac.compare_digest(secret, app.client_secret):
            raise Refusal(
                401,
                "invalid_client",
                error_description="Client authentication failed due to unknown client, no "
                "client authentication included, or unsupported authentication method.",
            )
        return app

    async def token(request: Request) -> Response:
        params, _ = await _params(request)
        app = _client(params)
        if params.get("grant_type") != "authorization_code":
            raise Refusal(400, "unsupported_grant_type")
        code = state.codes.get(str(params.get("code") or ""))
        invalid = "The provided authorization grant is invalid, expired, revoked, does not " \
            "match the redirection URI used in the authorization request, or was issued to " \
            "another client."  # fmt: skip
        if (
            code is None
            or code.used
            or code.client_id != app.client_id
            or code.redirect_uri != params.get("redirect_uri")
            or time.time() > code.issued_at + CODE_TTL_S
        ):
            raise Refusal(400, "invalid_grant", error_description=invalid)
        problem = verifier_problem(code.challenge, code.method, params.get("code_verifier"))
        if problem:
            raise Refusal(400, "invalid_grant", error_description=problem)
        code.used = True
        issued = state.issue(
            "access",
            account_id=state.account_id,
            client_id=app.client_id,
            scopes=code.scopes,
            ttl_s=None,
        )
        return JSONResponse(
            {
                "access_token": issued.value,
                "token_type": "Bearer",
                "scope": " ".join(sorted(code.scopes)),
                "created_at": int(issued.issued_at),
            }
        )

    async def revoke(request: Request) -> Response:
        params, _ = await _params(request)
        app = _client(params)
        found = state.tokens.get(str(params.get("token") or ""))
        if found is not None and found.client_id == app.client_id:
            found.revoked = True
        return JSONResponse({})  # RFC 7009: unknown tokens are not an error

    async def verify_credentials(request: Request) -> Response:
        state.caller(request, "read:accounts")
        return JSONResponse(_account(state, request))

    async def instance(request: Request) -> Response:
        host = urlsplit(_base(request)).netloc
        return JSONResponse(
            {
                "domain": host,
                "title": "T21 sandbox instance",
                "version": "4.3.0",
                "configuration": {
                    "statuses": {
                        "max_characters": state.max_text,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    },
                    "media_attachments": {
                        "supported_mime_types": sorted(IMAGE_TYPES | VIDEO_TYPES),
                        "image_size_limit": IMAGE_LIMIT,
                        "video_size_limit": VIDEO_LIMIT,
                    },
                },
            }
        )

    async def upload(request: Request) -> Response:
        token = state.caller(request, "write:media")
        headers = _window(state, "media", token.account_id, state.media_limit, MEDIA_PERIOD_S)
        params, form = await _params(request)
        file = form.get("file") if form is not None else None
        if not isinstance(file, UploadFile):
            raise Refusal(422, "Validation failed: File can't be blank")
        data = await file.read()
        kind_of = file.content_type or ""
        if kind_of in IMAGE_TYPES:
            kind, limit = ("image", IMAGE_LIMIT)
        elif kind_of in VIDEO_TYPES:
            kind, limit = ("video", VIDEO_LIMIT)
        else:
            raise Refusal(422, "Validation failed: File content type is invalid")
        if len(data) > limit:
            raise Refusal(
                422, f"Validation failed: File file size must be less than {limit // 1048576} MB"
            )
        if _magic_mismatch(kind_of, data):
            raise Refusal(
                422,
                "Validation failed: File has contents that are not what they are reported to be",
            )
        description = params.get("description")
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            raise Refusal(
                422, "Validation failed: Description is too long (maximum is 1500 characters)"
            )
        media = Media(
            id=state.new_id(),
            account_id=token.account_id,
            kind=kind,
            content_type=kind_of,
            size=len(data),
            description=description if isinstance(description, str) else None,
            polls_left=state.processing_polls if kind == "video" else 0,
        )
        state.media[media.id] = media
        status = 200 if media.processed() else 202
        return JSONResponse(media.entity(_base(request)), status_code=status, headers=headers)

    async def show_media(request: Request) -> Response:
        token = state.caller(request, "write:media")
        media = state.media.get(request.path_params["id"])
        if media is None or media.account_id != token.account_id:
            raise Refusal(404, "Record not found")
        if not media.processed():
            media.polls_left -= 1
            return JSONResponse(media.entity(_base(request)), status_code=206)
        return JSONResponse(media.entity(_base(request)))

    async def post_status(request: Request) -> Response:
        token = state.caller(request, "write:statuses")
        params, _ = await _params(request)
        text = params.get("status")
        text = text if isinstance(text, str) else ""
        in_reply_to = params.get("in_reply_to_id")
        state.received_send(account=token.account_id, text=text, reply_to=in_reply_to)
        key = request.headers.get("idempotency-key")
        if key:
            found = state.idempotency.get((token.account_id, key))
            if found is not None and time.time() < found[1] + IDEMPOTENCY_TTL_S:
                existing = state.statuses.get(found[0])
                if existing is not None:
                    state.replayed()
                    return JSONResponse(_status(state, request, existing))
        headers = _window(state, "statuses", token.account_id, state.status_limit, STATUS_PERIOD_S)
        # PostStatusService: `Status.find(in_reply_to_id)` — an unknown status is a 404.
        if in_reply_to is not None and (
            not isinstance(in_reply_to, str) or in_reply_to not in state.statuses
        ):
            raise Refusal(404, "Record not found")
        raw_ids = params.get("media_ids") or []
        media_ids = [str(m) for m in (raw_ids if isinstance(raw_ids, list) else [raw_ids])]
        if not text.strip() and not media_ids:
            raise Refusal(422, "Validation failed: Text can't be blank")
        visibility = params.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            raise Refusal(
                422, f"Validation failed: Visibility '{visibility}' is not a valid visibility"
            )
        spoiler = params.get("spoiler_text") or ""
        if not isinstance(spoiler, str):
            raise Refusal(422, "Validation failed: Spoiler text is invalid")
        if countable_length(spoiler, text) > state.max_text:
            raise Refusal(
                422, f"Validation failed: Text character limit of {state.max_text} exceeded"
            )
        language = params.get("language")
        if language is not None and not (
            isinstance(language, str) and re.fullmatch(r"[a-z]{2,3}", language)
        ):
            raise Refusal(422, "Validation failed: Language is not a valid language")
        sensitive = params.get("sensitive")
        is_sensitive = sensitive in (True, "true", "1", "True")
        if len(media_ids) > 4:
            raise Refusal(422, "Cannot attach more than 4 files")
        attached = [state.media.get(m) for m in media_ids]
        if any(m is None or m.account_id != token.account_id or m.status_id for m in attached):
            raise Refusal(422, "Validation failed: Media attachments are invalid")
        ready = [m for m in attached if m is not None]
        if len(ready) > 1 and any(m.kind == "video" for m in ready):
            raise Refusal(422, "Cannot attach a video to a post that already contains images")
        if any(not m.processed() for m in ready):
            raise Refusal(
                422, "Cannot attach files that have not finished processing. Try again in a moment!"
            )
        status = Status(
            id=state.new_id(),
            account_id=token.account_id,
            text=text,
            created_at=time.time(),
            visibility=str(visibility),
            spoiler_text=spoiler,
            sensitive=is_sensitive or bool(spoiler),
            language=language,
            media_ids=media_ids,
            in_reply_to_id=in_reply_to if isinstance(in_reply_to, str) else None,
        )
        if status.in_reply_to_id is not None:
            state.statuses[status.in_reply_to_id].counts["replies_count"] += 1
        for media in ready:
            media.status_id = status.id
        state.statuses[status.id] = status
        if key:
            state.idempotency[(token.account_id, key)] = (status.id, time.time())
        state.record_publication(id=status.id, account=token.account_id, text=text,
                                 media_ids=media_ids, visibility=status.visibility)  # fmt: skip
        return JSONResponse(_status(state, request, status), headers=headers)

    async def show_status(request: Request) -> Response:
        state.caller(request, "read:statuses")
        status = state.statuses.get(request.path_params["id"])
        if status is None:
            raise Refusal(404, "Record not found")
        return JSONResponse(_status(state, request, status))

    async def account_statuses(request: Request) -> Response:
        state.caller(request, "read:statuses")
        if request.path_params["id"] != state.account_id:
            raise Refusal(404, "Record not found")
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            raise Refusal(400, "limit is invalid") from None
        limit = max(1, min(limit, 40))  # Mastodon clamps to 40
        newest = sorted(state.statuses.values(), key=lambda s: s.created_at, reverse=True)
        return JSONResponse([_status(state, request, s) for s in newest[:limit]])

    return [
        Route("/api/v1/apps", create_app, methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/oauth/authorize", authorize, methods=["GET"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
        Route("/api/v2/instance", instance, methods=["GET"]),
        Route("/api/v2/media", upload, methods=["POST"]),
        Route("/api/v1/media/{id}", show_media, methods=["GET"]),
        Route("/api/v1/statuses", post_status, methods=["POST"]),
        Route("/api/v1/statuses/{id}", show_status, methods=["GET"]),
        Route("/api/v1/accounts/{id}/statuses", account_statuses, methods=["GET"]),
    ]


def _magic_mismatch(content_type: str, data: bytes) -> bool:
    """Whether the bytes plainly aren't the type they claim (Paperclip's spoof detection)."""
    signatures = {
        "image/png": (b"\x89PNG",),
        "image/jpeg": (b"\xff\xd8\xff",),
        "image/gif": (b"GIF87a", b"GIF89a"),
    }
    expected = signatures.get(content_type)
    if expected is not None:
        return not data.startswith(expected)
    if content_type in ("video/mp4", "video/quicktime"):
        return data[4:8] != b"ftyp"
    return False


def _control_extras(state: MastodonState) -> list[Route]:
    async def settings(request: Request) -> Response:
        if request.method == "POST":
            body = await control_body(request)
            for name, kind in SETTINGS.items():
                value = optional(body, name, kind)
                if value is not None:
                    setattr(state, name, value)
        return JSONResponse({name: getattr(state, name) for name in SETTINGS})

    async def metrics(request: Request) -> Response:
        body = await control_body(request)
        status = state.statuses.get(str(optional(body, "id", str)))
        if status is None:
            raise ControlError("`id` must be the id of a published status.", 404)
        for name in status.counts:
            value = optional(body, name, int)
            if value is not None:
                status.counts[name] = value
        return JSONResponse({"id": status.id, **status.counts})

    return [
        Route("/_control/settings", settings, methods=["GET", "POST"]),
        Route("/_control/metrics", metrics, methods=["POST"]),
    ]


async def _refusal(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status,
                        headers=exc.headers)  # fmt: skip


def create_mastodon_app(state: MastodonState | None = None) -> Starlette:
    """The Mastodon fake as an ASGI app, served at a root or mounted (e.g. at `/mastodon`)."""
    state = state or MastodonState()
    app = Starlette(
        routes=[*_control_extras(state), *control_routes(state), *_routes(state)],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={Refusal: _refusal, ControlError: control_error},
    )
    app.state.mastodon = state
    return app
