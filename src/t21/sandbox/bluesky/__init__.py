"""A fake of a Bluesky PDS (AT Protocol), following the reference PDS
(github.com/bluesky-social/atproto, packages/pds and lexicons) so T21's adapter runs against it
unchanged:

- `GET /xrpc/com.atproto.identity.resolveHandle`: any well-formed handle resolves to a stable
  `did:plc:` (the sandbox has every account); `GET /did:plc:…` serves its DID document (as
  plc.directory does) naming this fake as the account's PDS.
- `com.atproto.server.createSession` `{identifier, password}` takes any app password of the
  form xxxx-xxxx-xxxx-xxxx (lowercase letters and digits), else 401 AuthenticationRequired
  "Invalid identifier or password"; access tokens live 120 minutes, refresh tokens 90 days.
  `refreshSession` (Bearer refresh token) rotates both; `deleteSession` revokes them. An expired
  token answers 400 ExpiredToken, an unknown or revoked one 401 InvalidToken.
- `com.atproto.repo.uploadBlob` (image/* bodies), `createRecord` of `app.bsky.feed.post`
  validated as the lexicon says: text at most 300 graphemes (counted here with `regex`'s
  grapheme clusters, not T21's code) and 3000 bytes, facets inside the text's UTF-8 bytes, at
  most 4 images of known blobs, each image ≤ 2,000,000 bytes with an `alt` string, or a link
  card (`app.bsky.embed.external`, `t21.sandbox.bluesky.external`) whose thumb is a known blob.
- `listRecords` (newest first, `cursor`), `app.bsky.feed.getPosts` (≤ 25 uris, counts),
  `app.bsky.actor.getProfile`.
- Writes spend points per account (createRecord 3; 5,000 per hour, 35,000 per day), the
  tighter budget reported in `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (epoch
  seconds) and `ratelimit-policy`; a spent budget answers 429 RateLimitExceeded.

An authorization server (AT Protocol OAuth) serves PAR, authorization, tokens and revocation
(`t21.sandbox.bluesky.oauth`); its DPoP-bound access tokens are taken as `Authorization: DPoP`
with a proof by the bound key, and refused as Bearer tokens.

`/_control` adds to the shared routes (`t21.sandbox.platform`): `POST /metrics` `{uri,
likeCount?, repostCount?, replyCount?, quoteCount?}`, `POST /points` `{limit?,
daily_limit?}` (the hourly and daily points budgets) and `POST /oauth` `{consent_as?,
rotate_nonce?}` (who consents to the next authorization; a new DPoP nonce). The video
service and service tokens are `t21.sandbox.bluesky.video`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import regex
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.bluesky.external import EXTERNAL, check_external_embed
from t21.sandbox.bluesky.oauth import (
    OAuthRefusal,
    OAuthState,
    bound_token,
    oauth_routes,
    refusal_response,
)
from t21.sandbox.bluesky.video import VideoError, VideoState, check_video_embed, video_routes
from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, NetworkState, bearer, control_routes

__all__ = ["BlueskyState", "create_bluesky_app"]

ACCESS_TTL_S = 120 * 60
REFRESH_TTL_S = 90 * 86_400
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000
MAX_BLOB_BYTES = 50 * 1024 * 1024
HOUR_S = 3600
DAY_S = 86_400
CREATE_POINTS = 3
APP_PASSWORD = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")
HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
B32 = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable, as TIDs use
COUNTS = ("likeCount", "repostCount", "replyCount", "quoteCount")


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


async def xrpc_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, XrpcError)
    return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status)


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def did_of(handle: str) -> str:
    digest = hashlib.sha256(handle.lower().encode()).digest()
    return "did:plc:" + "".join(B32[b % 32] for b in digest[:24])


@dataclass
class Record:
    uri: str
    cid: str
    did: str
    rkey: str
    value: dict[str, Any]
    indexed_at: float
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))


@dataclass
class BlueskyState(NetworkState):
    name: str = "bluesky"
    handles: dict[str, str] = field(default_factory=dict)  # did -> handle
    records: dict[str, Record] = field(default_factory=dict)  # uri -> record
    blobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # did -> [hour window start, spent, day window start, spent]
    points: dict[str, list[float]] = field(default_factory=dict)
    hourly_points: int = 5000
    daily_points: int = 35_000
    last_tid: int = 0
    oauth: OAuthState = field(default_factory=OAuthState)
    video: VideoState = field(default_factory=VideoState)

    def tid(self) -> str:
        micros = max(int(time.time() * 1_000_000), self.last_tid + 1)
        self.last_tid = micros
        value = (micros << 10) | 1
        return "".join(B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))

    def forget(self) -> None:
        self.handles.clear()
        self.records.clear()
        self.blobs.clear()
        self.points.clear()
        self.hourly_points = 5000
        self.daily_points = 35_000
        self.oauth.forget()
        self.video.forget()


def _cid(data: bytes) -> str:
    return "bafyrei" + "".join(B32[b % 32] for b in hashlib.sha256(data).digest())


def _account(state: BlueskyState, request: Request) -> str:
    """The DID of the request's access token, or the reference PDS's refusal. A token from
    OAuth is DPoP-bound: `Authorization: DPoP …` with a proof by its key, never as Bearer."""
    scheme, _, dpop_value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "dpop":
        token = state.tokens.get(dpop_value.strip())
        if token is None or token.kind != "access" or not token.usable():
            raise OAuthRefusal(401, "invalid_token", "Invalid token", resource=True)
        bound_token(state.oauth, request, token.value)
        return token.account_id
    value = bearer(request)
    if not value:
        raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
    token = state.tokens.get(value)
    if token is None or token.kind != "access" or token.revoked or value in state.oauth.bound:
        raise XrpcError(401, "InvalidToken", "Token could not be verified")
    if not token.usable():
        raise XrpcError(400, "ExpiredToken", "Token has expired")
    return token.account_id


def _session(state: BlueskyState, did: str) -> dict[str, Any]:
    access = state.issue(
        "access",
        account_id=did,
        client_id="",
        scopes=frozenset({"com.atproto.appPass"}),
        ttl_s=ACCESS_TTL_S,
    )
    refresh = state.issue(
        "refresh",
        account_id=did,
        client_id="",
        scopes=frozenset({"com.atproto.refresh"}),
        ttl_s=REFRESH_TTL_S,
    )
    return {
        "accessJwt": access.value,
        "refreshJwt": refresh.value,
        "handle": state.handles[did],
        "did": did,
        "active": True,
    }


async def _json(request: Request) -> dict[str, Any]:
    if "application/json" not in request.headers.get("content-type", ""):
        raise XrpcError(
            400, "InvalidRequest", "Request encoding (Content-Type) required but not provided"
        )
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise XrpcError(400, "InvalidRequest", "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise XrpcError(400, "InvalidRequest", "Input must be an object")
    return body


def _spend(state: BlueskyState, did: str, points: int) -> dict[str, str]:
    """Spend `points` of the account's hourly and daily budgets; the `ratelimit-*` headers of
    the tighter one, or `RateLimited` with them when either is spent."""
    now = time.time()
    windows = state.points.setdefault(did, [now, 0, now, 0])
    budgets = ((0, HOUR_S, state.hourly_points), (2, DAY_S, state.daily_points))
    for start, length, _limit in budgets:
        if now - windows[start] >= length:
            windows[start], windows[start + 1] = now, 0
    over = [b for b in budgets if windows[b[0] + 1] + points > b[2]]
    tightest = over[0] if over else min(budgets, key=lambda b: b[2] - windows[b[0] + 1] - points)
    start, length, limit = tightest
    if not over:
        windows[1] += points
        windows[3] += points
    headers = {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(max(0, limit - int(windows[start + 1]))),
        "ratelimit-reset": str(int(windows[start] + length)),
        "ratelimit-policy": f"{limit};w={length}",
    }
    if over:
        raise RateLimited(headers)
    return headers


class RateLimited(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("rate limited")
        self.headers = headers


async def rate_limited(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    return JSONResponse(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        status_code=429,
        headers=exc.headers,
    )


def _invalid(message: str) -> XrpcError:
    return XrpcError(400, "InvalidRequest", f"Invalid app.bsky.feed.post record: {message}")


def _check_post(state: BlueskyState, did: str, record: dict[str, Any]) -> None:
    text = record.get("text")
    if not isinstance(text, str):
        raise _invalid('Record must have the property "text"')
    if not isinstance(record.get("createdAt"), str):
        raise _invalid('Record must have the property "createdAt"')
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise _invalid(f"Record/text must not be longer than {MAX_TEXT_BYTES} characters")
    if graphemes(text) > MAX_GRAPHEMES:
        raise _invalid(f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
    for number, facet in enumerate(record.get("facets") or []):
        index = facet.get("index") if isinstance(facet, dict) else None
        start = index.get("byteStart") if isinstance(index, dict) else None
        end = index.get("byteEnd") if isinstance(index, dict) else None
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= size:
            raise _invalid(f"Record/facets/{number}/index must be a byte range within the text")
        features = facet.get("features")
        if not isinstance(features, list) or not features:
            raise _invalid(f'Record/facets/{number} must have the property "features"')
    langs = record.get("langs")
    if langs is not None and (not isinstance(langs, list) or len(langs) > 3):
        raise _invalid("Record/langs must not have more than 3 elements")
    if "reply" in record:
        _check_reply(state, record["reply"])
    embed = record.get("embed")
    if embed is None:
        return
    if isinstance(embed, dict) and embed.get("$type") == "app.bsky.embed.video":
        problem = check_video_embed(state, did, embed)
        if problem is not None:
            raise _invalid(problem)
        return
    if isinstance(embed, dict) and embed.get("$type") == EXTERNAL:
        problem = check_external_embed(state, did, embed)
        if problem is not None and problem.startswith("Could not find blob"):
            raise XrpcError(400, "BlobNotFound", problem)
        if problem is not None:
            raise _invalid(problem)
        return
    if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.images":
        raise _invalid('Record/embed must be an object which includes the "$type" property')
    images = embed.get("images")
    if not isinstance(images, list) or not images or len(images) > MAX_IMAGES:
        raise _invalid(f"Record/embed/images must not have more than {MAX_IMAGES} elements")
    for number, image in enumerate(images):
        blob = image.get("image") if isinstance(image, dict) else None
        if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
            raise _invalid(f'Record/embed/images/{number} must have the property "alt"')
        ref = blob.get("ref") if isinstance(blob, dict) else None
        cid = ref.get("$link") if isinstance(ref, dict) else None
        stored = state.blobs.get((did, str(cid)))
        if stored is None:
            raise XrpcError(400, "BlobNotFound", f"Could not find blob: {cid}")
        if not str(stored["mimeType"]).startswith("image/"):
            raise _invalid(f"Record/embed/images/{number}/image mimeType is not accepted")
        if stored["size"] > MAX_IMAGE_BYTES:
            raise _invalid(
                f"Record/embed/images/{number}/image file too large ({stored['size']} bytes). "
                f"Maximum allowed size is {MAX_IMAGE_BYTES} bytes."
            )


def _check_reply(state: BlueskyState, reply: Any) -> None:
    """`app.bsky.feed.post#replyRef`: `root` and `parent`, each a `com.atproto.repo.strongRef`
    {uri, cid}. A PDS checks only the shape; this fake also refuses a reference to a record it
    doesn't hold or with another cid (the App View would leave such a reply out of the thread)."""
    if not isinstance(reply, dict):
        raise _invalid("Record/reply must be an object")
    for name in ("root", "parent"):
        ref = reply.get(name)
        if not isinstance(ref, dict):
            raise _invalid(f'Record/reply must have the property "{name}"')
        uri, cid = ref.get("uri"), ref.get("cid")
        if not isinstance(uri, str) or not uri.startswith("at://"):
            raise _invalid(f"Record/reply/{name}/uri must be a valid at-uri")
        if not isinstance(cid, str) or not cid:
            raise _invalid(f'Record/reply/{name} must have the property "cid"')
        found = state.records.get(uri)
        if found is None or found.cid != cid:
            raise XrpcError(400, "InvalidRequest", f"Could not locate record: {uri}")


def _routes(state: BlueskyState) -> list[Route]:
    async def resolve_handle(request: Request) -> Response:
        handle = request.query_params.get("handle", "").lower()
        if not HANDLE.match(handle):
            raise XrpcError(400, "InvalidRequest", "Error: handle must be a valid handle")
        did = did_of(handle)
        state.handles.setdefault(did, handle)
        return JSONResponse({"did": did})

    async def did_document(request: Request) -> Response:
        did = "did:plc:" + request.path_params["suffix"]
        handle = state.handles.get(did)
        if handle is None:
            return JSONResponse({"message": f"DID not registered: {did}"}, status_code=404)
        # This fake's own address, mounted or not (the document sits at its root).
        base = str(request.url.replace(query="")).rsplit(f"/{did}", 1)[0]
        return JSONResponse(
            {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": did,
                "alsoKnownAs": [f"at://{handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": base,
                    }
                ],
            }
        )

    async def create_session(request: Request) -> Response:
        body = await _json(request)
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            raise XrpcError(400, "InvalidRequest", 'Input must have the property "identifier"')
        did = identifier if identifier.startswith("did:") else did_of(identifier)
        if did not in state.handles or not APP_PASSWORD.match(password):
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return JSONResponse(_session(state, did))

    async def refresh_session(request: Request) -> Response:
        token = state.tokens.get(bearer(request) or "")
        if token is None or token.kind != "refresh":
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        if not token.usable():
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        token.used = True
        return JSONResponse(_session(state, token.account_id))

    async def delete_session(request: Request) -> Response:
        token = state.tokens.get(bearer(request) or "")
        if token is None or token.kind != "refresh" or not token.usable():
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        for issued in state.tokens.values():
            if issued.account_id == token.account_id:
                issued.revoked = True
        return Response(status_code=200)

    async def get_profile(request: Request) -> Response:
        _account(state, request)
        actor = request.query_params.get("actor", "")
        did = actor if actor.startswith("did:") else did_of(actor)
        if did not in state.handles:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        handle = state.handles[did]
        return JSONResponse({"did": did, "handle": handle, "displayName": handle.split(".")[0]})

    async def upload_blob(request: Request) -> Response:
        did = _account(state, request)
        mime = request.headers.get("content-type", "").split(";")[0].strip()
        data = await request.body()
        if not mime or mime == "*/*":
            raise XrpcError(400, "InvalidRequest", "Request encoding (Content-Type) required")
        if len(data) > MAX_BLOB_BYTES:
            raise XrpcError(413, "PayloadTooLarge", "request entity too large")
        cid = _cid(data)
        blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
        state.blobs[(did, cid)] = blob
        return JSONResponse({"blob": blob})

    async def create_record(request: Request) -> Response:
        did = _account(state, request)
        body = await _json(request)
        record = body.get("record")
        text = record.get("text") if isinstance(record, dict) else None
        reply = record.get("reply") if isinstance(record, dict) else None
        parent = reply.get("parent") if isinstance(reply, dict) else None
        state.received_send(
            account=did, text=text, reply_to=parent.get("uri") if isinstance(parent, dict) else None
        )
        headers = _spend(state, did, CREATE_POINTS)
        repo = body.get("repo")
        if repo not in (did, state.handles.get(did)):
            raise XrpcError(400, "InvalidRequest", "Invalid repo")
        if body.get("collection") != "app.bsky.feed.post" or not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", "Invalid collection")
        if record.get("$type", "app.bsky.feed.post") != "app.bsky.feed.post":
            raise _invalid("Record/$type must be app.bsky.feed.post")
        _check_post(state, did, record)
        rkey = state.tid()
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        cid = _cid(json.dumps(record, sort_keys=True).encode())
        state.records[uri] = Record(uri, cid, did, rkey, record, time.time())
        state.record_publication(account=did, uri=uri, text=record["text"])
        answer = {"uri": uri, "cid": cid, "validationStatus": "valid"}
        return JSONResponse(answer, headers=headers)

    async def list_records(request: Request) -> Response:
        repo = request.query_params.get("repo", "")
        did = repo if repo.startswith("did:") else did_of(repo)
        collection = request.query_params.get("collection")
        try:
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            raise XrpcError(400, "InvalidRequest", "limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise XrpcError(400, "InvalidRequest", "limit must be between 1 and 100")
        if did not in state.handles:
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}")
        cursor = request.query_params.get("cursor")
        mine = sorted(
            (r for r in state.records.values() if r.did == did and collection == POST_NSID),
            key=lambda r: r.rkey,
            reverse=True,
        )
        if cursor:
            mine = [r for r in mine if r.rkey < cursor]
        page = mine[:limit]
        answer: dict[str, Any] = {
            "records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in page]
        }
        if len(mine) > limit:
            answer["cursor"] = page[-1].rkey
        return JSONResponse(answer)

    async def get_posts(request: Request) -> Response:
        _account(state, request)
        uris = request.query_params.getlist("uris")
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "uris must not have more than 25 elements")
        posts = []
        for uri in uris:
            found = state.records.get(uri)
            if found is None:
                continue
            state.grow(
                found.counts, post_key=found.uri, published_at=found.indexed_at, names=COUNTS
            )
            posts.append(
                {
                    "uri": found.uri,
                    "cid": found.cid,
                    "author": {"did": found.did, "handle": state.handles[found.did]},
                    "record": found.value,
                    "indexedAt": found.value["createdAt"],
                    **found.counts,
                }
            )
        return JSONResponse({"posts": posts})

    async def set_metrics(request: Request) -> Response:
        body = await control_body(request)
        found = state.records.get(str(optional(body, "uri", str)))
        if found is None:
            raise ControlError("`uri` must be the uri of a published post.", 404)
        for name in COUNTS:
            value = optional(body, name, int)
            if value is not None:
                found.counts[name] = value
        return JSONResponse({"uri": found.uri, "counts": found.counts})

    async def set_points(request: Request) -> Response:
        body = await control_body(request)
        state.hourly_points = int(optional(body, "limit", int) or state.hourly_points)
        state.daily_points = int(optional(body, "daily_limit", int) or state.daily_points)
        return JSONResponse({"limit": state.hourly_points, "daily_limit": state.daily_points})

    x = "/xrpc/"
    return [
        Route("/_control/metrics", set_metrics, methods=["POST"]),
        Route("/_control/points", set_points, methods=["POST"]),
        Route(x + "com.atproto.identity.resolveHandle", resolve_handle),
        Route("/did:plc:{suffix}", did_document),
        Route(x + "com.atproto.server.createSession", create_session, methods=["POST"]),
        Route(x + "com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
        Route(x + "com.atproto.server.deleteSession", delete_session, methods=["POST"]),
        Route(x + "app.bsky.actor.getProfile", get_profile),
        Route(x + "com.atproto.repo.uploadBlob", upload_blob, methods=["POST"]),
        Route(x + "com.atproto.repo.createRecord", create_record, methods=["POST"]),
        Route(x + "com.atproto.repo.listRecords", list_records),
        Route(x + "app.bsky.feed.getPosts", get_posts),
    ]


POST_NSID = "app.bsky.feed.post"


def create_bluesky_app(state: BlueskyState | None = None) -> Starlette:
    """The Bluesky fake as an ASGI app, served at a root or mounted (at `/bluesky`)."""
    state = state or BlueskyState()

    async def video_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VideoError)
        body = {"error": exc.error, "message": exc.message}
        return JSONResponse(body, status_code=exc.status)

    async def refused(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthRefusal)
        return refusal_response(state.oauth.nonce, exc)

    app = Starlette(
        routes=[
            *_routes(state),
            *oauth_routes(state, did_of),
            *video_routes(state, lambda request: _account(state, request)),
            *control_routes(state, state.forget),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={
            XrpcError: xrpc_error,
            RateLimited: rate_limited,
            ControlError: control_error,
            OAuthRefusal: refused,
            VideoError: video_error,
        },
    )
    app.state.bluesky = state
    return app
