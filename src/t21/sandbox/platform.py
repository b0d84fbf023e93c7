"""What every social-network fake shares: issued tokens, injected faults, and a record of what
it received and published (so tests can prove nothing was published twice).

A fake keeps a `NetworkState` (subclassed with its own posts, containers, uploads...), wraps its
Starlette app with `FaultMiddleware`, and adds `control_routes(state)` under `/_control`:

- `POST /_control/faults` `{status, body?, headers?, path?, query?, method?, request_headers?,
  count?, delay_s?, lose_response?}`: the next `count` matching requests get this answer
  (`request_headers` maps a header name to a regular expression its value must match: a
  resumable upload's chunk, `Content-Range: bytes 0-…`, apart from its status query,
  `bytes */N`, on the same path). With `lose_response`
  the request is carried out, then the answer is held for `delay_s` (the client times out,
  not knowing the post exists: "accepted but the response was lost").
- `POST /_control/tokens/expire` `{token?}` / `POST /_control/tokens/revoke` `{token?}`: expire
  or revoke one token, or all of them.
- `GET /_control/published`: every post the fake published, in order.
- `GET /_control/requests`: method, path and query of every request (no secrets), and how
  many are being handled right now (`in_flight`).
- `GET /_control/sends` (`?account=`): every publish request the fake received, per account,
  refused ones included: hashes of its body and text and its outcome (see `Send`). A second
  send of the same post shows here even when the fake refused it or T21 never learnt of it.
- `GET|POST /_control/duplicates` `{refuse}`: whether identical posts are refused (as the
  networks do), so that a second send is accepted and seen. Starts as the sandbox's setting
  (`T21_SANDBOX_REFUSE_DUPLICATES`) and returns to it on reset.
- `GET|POST /_control/growth` `{grow?, advance_s?}`: whether posts' numbers grow over time
  (below), and how many seconds older than they are they grow as (added to, never reset).
- `POST /_control/reset`: forget everything.

With `grow_metrics` on (the sandbox of `t21 serve`: `T21_SANDBOX_GROW_METRICS`), a fake's posts
gather plausible numbers as time passes (`grown_count`): deterministic from the post's id and
its age, never going down, and never below what `/_control/metrics` set.

A fake takes part in the send record with two calls in its publishing endpoint:
`state.received_send(account=..., text=...)` once it knows who posts what, and
`state.refuses_duplicate()` when the post is identical to one it already has (refuse only
if it says so); a fake with idempotency keys calls `state.replayed()` when it answers a repeat
with the post the key already made.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope
from starlette.types import Send as ASGISend

CONTROL_PREFIX = "/_control"
SECRET_QUERY_KEYS = frozenset(
    {"access_token", "client_secret", "code", "refresh_token", "fb_exchange_token", "token"}
)


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # a regular expression searched in the request path
    query: str | None = None  # a regular expression searched in the query string
    method: str | None = None
    # Header name (any case) -> a regular expression searched in the request's header value.
    request_headers: dict[str, str] = field(default_factory=dict)
    count: int = 1
    delay_s: float = 0.0
    lose_response: bool = False

    def matches(
        self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None
    ) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.query is not None and re.search(self.query, query) is None:
            return False
        given = headers or {}
        for name, pattern in self.request_headers.items():
            if re.search(pattern, given.get(name.lower(), "")) is None:
                return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class IssuedToken:
    value: str
    kind: str  # "access" or "refresh"
    account_id: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float | None
    revoked: bool = False
    used: bool = False  # a rotated refresh token

    def usable(self) -> bool:
        if self.revoked or self.used:
            return False
        return self.expires_at is None or time.time() < self.expires_at


class SendOutcome(StrEnum):
    """What became of one publish request at the fake."""

    RECEIVED = "received"  # still being handled
    ACCEPTED = "accepted"  # answered 2xx: the post exists (or, for TikTok, is on its way)
    REFUSED_DUPLICATE = "refused-duplicate"  # identical to a post the account already has
    REFUSED_OTHER = "refused-other"  # any other refusal: nothing was posted
    # Carried out, then the answer was lost by an injected fault: the client doesn't know.
    FAULT_INJECTED_AFTER_EFFECT = "fault-injected-after-effect"
    # A repeat under an idempotency key the network still holds: answered with the post the
    # first request made, nothing new posted.
    REPLAYED = "replayed"


# The outcomes after which the post exists or may exist at the network.
MAY_HAVE_POSTED = frozenset({SendOutcome.ACCEPTED, SendOutcome.FAULT_INJECTED_AFTER_EFFECT})


@dataclass
class Send:
    """One publish request as the fake received it (hashes only: no text, no secrets)."""

    number: int
    account: str
    method: str
    path: str
    body_sha256: str
    text_sha256: str | None
    received_at: float
    outcome: SendOutcome = SendOutcome.RECEIVED
    status: int | None = None
    # What the send answers: the post it replies to or comments on (the network's id for it).
    reply_to: str | None = None
    # "post", "reply" or "comment".
    kind: str = "post"

    def view(self) -> dict[str, Any]:
        return asdict(self) | {"outcome": self.outcome.value}


def character_count(text: str) -> int:
    """A caption's or title's length in characters (code points after NFC), as the Instagram
    and TikTok fakes count it: their own count, apart from T21's (`t21.platforms.text`)."""
    return len(unicodedata.normalize("NFC", text))


def text_digest(text: str) -> str:
    """The hash under which a send records its text (tests hash their text the same way)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The share of a post's audience each kind of number reaches, by a word in the number's name
# (first match wins), for the sandbox's growing numbers.
GROWTH_SHARES = (
    ("impression", 1.0), ("view", 0.9), ("reach", 0.7), ("click", 0.02), ("like", 0.05),
    ("favourite", 0.05), ("bookmark", 0.005), ("save", 0.005), ("quote", 0.003),
    ("repost", 0.012), ("retweet", 0.012), ("reblog", 0.012), ("share", 0.01),
    ("repl", 0.008), ("comment", 0.008),
)  # fmt: skip
# Half of a post's eventual audience sees it within this long after it is published.
GROWTH_HALF_LIFE_S = 1800.0


def grown_count(post_key: str, name: str, published_at: float, now: float) -> int:
    """The number `name` of the post `post_key` has reached `now`: its audience (300 to 5,000,
    from the post's id) times the share that kind of number gets, as the post is seen."""
    audience = 300 + int.from_bytes(hashlib.sha256(post_key.encode()).digest()[:4]) % 4700
    lowered = name.lower()
    share = next((part_share for part, part_share in GROWTH_SHARES if part in lowered), 0.01)
    wobble = int.from_bytes(hashlib.sha256(f"{post_key}:{name}".encode()).digest()[:2])
    share *= 0.75 + (wobble % 51) / 100
    seen = 1.0 - 0.5 ** (max(0.0, now - published_at) / GROWTH_HALF_LIFE_S)
    return int(audience * share * seen)


@dataclass
class Exchange:
    """One request going through `FaultMiddleware`: its body as read so far, and its send."""

    method: str
    path: str
    query: str
    body: bytearray = field(default_factory=bytearray)
    send: Send | None = None


# The request being handled (set by `FaultMiddleware`, read by the send hooks).
_exchange: ContextVar[Exchange | None] = ContextVar("t21_sandbox_exchange", default=None)


@dataclass
class NetworkState:
    """The in-memory world of one fake network."""

    name: str
    faults: list[Fault] = field(default_factory=list)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Requests being handled right now (an answer held back by a fault no longer counts): a test
    # that moves T21's clock waits for none, as real time would have let them finish.
    in_flight: int = 0
    sends: list[Send] = field(default_factory=list)
    refuse_duplicates: bool = True
    refuse_duplicates_default: bool = True
    grow_metrics: bool = False
    # `POST /_control/growth {advance_s}`: how much older than they are posts' numbers grow.
    growth_offset_s: float = 0.0

    def grow(
        self, counts: dict[str, int], *, post_key: str, published_at: float, names: Any
    ) -> None:
        """With `grow_metrics`, raise each of `names` in `counts` to what the post has grown to
        by now (`grown_count`); numbers set by `/_control/metrics` above it stay."""
        if not self.grow_metrics:
            return
        now = time.time() + self.growth_offset_s
        for name in names:
            counts[name] = max(counts.get(name, 0), grown_count(post_key, name, published_at, now))

    def __getstate__(self) -> dict[str, Any]:
        """What the sandbox's state file keeps (`t21.sandbox.persistence`): not the request
        log (it only grows) nor the faults queued for this run."""
        kept = dict(self.__dict__)
        kept["requests"] = []
        kept["faults"] = []
        kept["in_flight"] = 0
        return kept

    def received_send(
        self, *, account: str, text: Any, reply_to: Any = None, kind: str | None = None
    ) -> Send:
        """Record the publish request being handled, by `account` (call it once its body is
        read); `text` is what it posts, if it is a string; `reply_to` the post it answers (a
        reply, or with `kind` "comment" a comment)."""
        exchange = _exchange.get() or Exchange(method="", path="", query="")
        body = bytes(exchange.body) or exchange.query.encode("latin-1")
        send = Send(
            number=len(self.sends) + 1,
            account=account,
            method=exchange.method,
            path=exchange.path,
            body_sha256=hashlib.sha256(body).hexdigest(),
            text_sha256=text_digest(text) if isinstance(text, str) and text else None,
            received_at=time.time(),
            reply_to=str(reply_to) if reply_to else None,
            kind=kind or ("reply" if reply_to else "post"),
        )
        self.sends.append(send)
        exchange.send = send
        return send

    def replayed(self) -> None:
        """Called when the publish request repeats one the network still holds by its
        idempotency key and is answered with the post already made (recorded, not a post)."""
        exchange = _exchange.get()
        if exchange is not None and exchange.send is not None:
            exchange.send.outcome = SendOutcome.REPLAYED

    def refuses_duplicate(self) -> bool:
        """Called on a post identical to one the account has: whether to refuse it (recorded)."""
        if not self.refuse_duplicates:
            return False
        exchange = _exchange.get()
        if exchange is not None and exchange.send is not None:
            exchange.send.outcome = SendOutcome.REFUSED_DUPLICATE
        return True

    def issue(
        self,
        kind: str,
        *,
        account_id: str,
        client_id: str,
        scopes: frozenset[str],
        ttl_s: float | None,
        prefix: str = "",
    ) -> IssuedToken:
        value = prefix + secrets.token_urlsafe(32)
        now = time.time()
        token = IssuedToken(
            value=value,
            kind=kind,
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            issued_at=now,
            expires_at=now + ttl_s if ttl_s is not None else None,
        )
        self.tokens[value] = token
        return token

    def token(self, value: str | None, kind: str = "access") -> IssuedToken | None:
        """The token `value` if it is a usable token of `kind`, else None."""
        if not value:
            return None
        token = self.tokens.get(value)
        if token is None or token.kind != kind or not token.usable():
            return None
        return token

    def take_fault(
        self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None
    ) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, query, headers):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def record_publication(self, **post: Any) -> None:
        self.published.append({"published_at": time.time(), **post})

    def reset(self) -> None:
        self.faults.clear()
        self.tokens.clear()
        self.published.clear()
        self.requests.clear()
        self.sends.clear()
        self.refuse_duplicates = self.refuse_duplicates_default
        self.growth_offset_s = 0.0

    def set_refuse_duplicates_default(self, refuse: bool) -> None:
        """The sandbox's setting: what duplicate refusal starts as, and returns to on reset."""
        self.refuse_duplicates_default = refuse
        self.refuse_duplicates = refuse


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query_params.get("access_token")


class FaultMiddleware:
    """Records every request and answers with the next matching fault, if any."""

    def __init__(self, app: ASGIApp, state: NetworkState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Mounted (e.g. at /linkedin in the sandbox), the path carries the mount's prefix.
        path: str = scope["path"].removeprefix(scope.get("root_path", ""))
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = _redacted_query(raw_query)
        self.state.requests.append({"method": method, "path": path, "query": query})
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        fault = self.state.take_fault(method, path, raw_query, headers)
        if fault is not None and not fault.lose_response:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            await _fault_response(fault)(scope, receive, send)
            return
        exchange = Exchange(method=method, path=path, query=query)
        token = _exchange.set(exchange)

        async def reading() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.body.extend(message.get("body", b""))
            return message

        status: list[int] = []
        held: list[Message] = []

        async def answering(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                # Settled before the answer leaves, so the client never reads it unsettled.
                _settle(exchange.send, status[0], lost=fault is not None)
            if fault is not None:
                held.append(message)  # carried out, the answer held back then lost
            else:
                await send(message)

        self.state.in_flight += 1
        try:
            await self.app(scope, reading, answering)
        finally:
            self.state.in_flight -= 1
            _exchange.reset(token)
            if not status:  # the fake failed before answering
                _settle(exchange.send, 500, lost=False)
        if fault is not None:
            await asyncio.sleep(fault.delay_s)
            for message in held:
                await send(message)


def _settle(send: Send | None, status: int, *, lost: bool) -> None:
    """A send's outcome, once the fake has answered it."""
    if send is None:
        return
    send.status = status
    if send.outcome is not SendOutcome.RECEIVED:
        return
    if 200 <= status < 300:
        send.outcome = SendOutcome.FAULT_INJECTED_AFTER_EFFECT if lost else SendOutcome.ACCEPTED
    else:
        send.outcome = SendOutcome.REFUSED_OTHER


def _fault_response(fault: Fault) -> Response:
    if fault.body is None or isinstance(fault.body, dict | list):
        return JSONResponse(fault.body or {}, status_code=fault.status, headers=fault.headers)
    return Response(str(fault.body), status_code=fault.status, headers=fault.headers)


def _redacted_query(query: str) -> str:
    parts = []
    for pair in query.split("&") if query else []:
        key, _, _value = pair.partition("=")
        parts.append(f"{key}=[redacted]" if key in SECRET_QUERY_KEYS else pair)
    return "&".join(parts)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the control body must be a JSON object")
    return value


def control_routes(
    state: NetworkState, extra_reset: Callable[[], None] | None = None
) -> list[Route]:
    """The `/_control` routes every fake shares."""

    async def add_fault(request: Request) -> Response:
        body = await _json(request)
        known = {name: value for name, value in body.items() if name in Fault.__dataclass_fields__}
        fault = Fault(**known)
        state.faults.append(fault)
        return JSONResponse({"queued": len(state.faults)})

    def _tokens_of(body: dict[str, Any]) -> list[IssuedToken]:
        value = body.get("token")
        if value is None:
            return list(state.tokens.values())
        return [state.tokens[value]] if value in state.tokens else []

    async def expire(request: Request) -> Response:
        tokens = _tokens_of(await _json(request))
        for token in tokens:
            token.expires_at = time.time() - 1
        return JSONResponse({"expired": len(tokens)})

    async def revoke(request: Request) -> Response:
        tokens = _tokens_of(await _json(request))
        for token in tokens:
            token.revoked = True
        return JSONResponse({"revoked": len(tokens)})

    async def published(_request: Request) -> Response:
        return JSONResponse({"published": state.published})

    async def requests(_request: Request) -> Response:
        return JSONResponse({"requests": state.requests, "in_flight": state.in_flight})

    async def sends(request: Request) -> Response:
        account = request.query_params.get("account")
        found = [s.view() for s in state.sends if account is None or s.account == account]
        return JSONResponse({"sends": found})

    async def duplicates(request: Request) -> Response:
        if request.method == "POST":
            refuse = (await _json(request)).get("refuse")
            if not isinstance(refuse, bool):
                return JSONResponse({"error": "`refuse` must be true or false"}, status_code=400)
            state.refuse_duplicates = refuse
        return JSONResponse({"refuse": state.refuse_duplicates})

    async def tokens(_request: Request) -> Response:
        # Kinds and states only: a test proves rotation without reading secrets.
        summary = [
            {k: v for k, v in asdict(token).items() if k != "value"}
            | {"scopes": sorted(token.scopes), "usable": token.usable()}
            for token in state.tokens.values()
        ]
        return JSONResponse({"tokens": summary})

    async def growth(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            grow, advance = body.get("grow"), body.get("advance_s", 0)
            if grow is not None and not isinstance(grow, bool):
                return JSONResponse({"error": "`grow` must be true or false"}, status_code=400)
            if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
                return JSONResponse({"error": "`advance_s` must be seconds, 0 or more"}, 400)
            if grow is not None:
                state.grow_metrics = grow
            state.growth_offset_s += float(advance)
        return JSONResponse({"grow": state.grow_metrics, "advanced_s": state.growth_offset_s})

    async def reset(_request: Request) -> Response:
        state.reset()
        if extra_reset is not None:
            extra_reset()
        return JSONResponse({"reset": True})

    def route(
        path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]
    ) -> Route:
        return Route(CONTROL_PREFIX + path, endpoint, methods=methods)

    return [
        route("/faults", add_fault, ["POST"]),
        route("/tokens/expire", expire, ["POST"]),
        route("/tokens/revoke", revoke, ["POST"]),
        route("/tokens", tokens, ["GET"]),
        route("/published", published, ["GET"]),
        route("/requests", requests, ["GET"]),
        route("/sends", sends, ["GET"]),
        route("/duplicates", duplicates, ["GET", "POST"]),
        route("/growth", growth, ["GET", "POST"]),
        route("/reset", reset, ["POST"]),
    ]
