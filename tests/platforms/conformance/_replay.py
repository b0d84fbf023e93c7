"""Replaying a network's published reference examples against an adapter.

An `Exchange` is one request/response pair as the network's documentation shows it, written
as data with the URL of the page it came from. `replay(...)` serves the exchanges in order on
loopback: each incoming request must have the documented shape (method, path, every documented
parameter in its documented place — query string, form or JSON body — and nothing undocumented
there), else it is recorded as a mismatch and answered 418. A matching request gets the
documented response. The test then asserts what the adapter made of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.platforms.base import PlatformConfig
from t21.sandbox.server import ThreadedServer


class _Any:
    """Present, with whatever value (tokens, ids T21 makes up, URLs of its own storage)."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


@dataclass(frozen=True)
class OneOf:
    """Any of these values: the reference's literal (`"true"`) and what the API reads the same
    (a JSON `true`)."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Expect:
    """What the reference shows the client sending. `path` may hold `{placeholders}` (one
    segment each). `extra` names parameters the adapter adds beyond this example, each
    documented on another page (say which, next to the exchange)."""

    method: str
    path: str
    query: Mapping[str, Any] = field(default_factory=dict)
    form: Mapping[str, Any] | None = None
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    extra: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    name: str
    source: str
    expect: Expect
    reply: Reply


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$"
    )


def _compare(
    where: str, wanted: Mapping[str, Any], got: Mapping[str, Any], extra: frozenset[str]
) -> list[str]:
    problems = []
    for name, value in wanted.items():
        if name not in got:
            problems.append(f"{where}: `{name}` missing")
        elif value is not ANY and not _same(value, got[name]):
            problems.append(f"{where}: `{name}` is {got[name]!r}, the reference shows {value!r}")
    for name in got:
        if name not in wanted and name not in extra:
            problems.append(f"{where}: `{name}` is not in the reference example")
    return problems


def _same(wanted: Any, got: Any) -> bool:
    if wanted is ANY:
        return True
    if isinstance(wanted, OneOf):
        return any(_same(value, got) for value in wanted.values)
    if isinstance(wanted, Mapping) and isinstance(got, Mapping):
        return all(key in got and _same(value, got[key]) for key, value in wanted.items())
    if isinstance(wanted, list) and isinstance(got, list):
        return len(wanted) == len(got) and all(
            _same(a, b) for a, b in zip(wanted, got, strict=True)
        )
    return bool(wanted == got)


@dataclass
class Replay:
    exchanges: list[Exchange]
    url: str = ""
    problems: list[str] = field(default_factory=list)
    served: int = 0

    async def handle(self, request: Request) -> Response:
        if self.served >= len(self.exchanges):
            self.problems.append(f"unexpected request {request.method} {request.url.path}")
            return JSONResponse({"replay": "no more exchanges"}, status_code=418)
        exchange = self.exchanges[self.served]
        self.served += 1
        problems = await self._mismatches(exchange.expect, request)
        if problems:
            self.problems += [f"{exchange.name}: {problem}" for problem in problems]
            return JSONResponse({"replay": problems}, status_code=418)
        reply = exchange.reply
        return Response(
            json.dumps(reply.body),
            status_code=reply.status,
            media_type="application/json",
            headers=dict(reply.headers),
        )

    async def _mismatches(self, expect: Expect, request: Request) -> list[str]:
        problems = []
        if request.method != expect.method:
            problems.append(f"method {request.method}, the reference shows {expect.method}")
        if not _path_pattern(expect.path).match(request.url.path):
            problems.append(f"path {request.url.path}, the reference shows {expect.path}")
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        problems += _compare("query", expect.query, query, expect.extra)
        raw = await request.body()
        content_type = request.headers.get("content-type", "").partition(";")[0].strip()
        if expect.form is not None:
            if content_type != "application/x-www-form-urlencoded":
                problems.append(f"body is {content_type or 'empty'}, the reference sends a form")
            form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            problems += _compare("form", expect.form, form, expect.extra)
        elif expect.json is not None:
            if content_type != "application/json":
                problems.append(f"body is {content_type or 'empty'}, the reference sends JSON")
            else:
                body = json.loads(raw or b"null")
                if not isinstance(body, dict):
                    problems.append("the JSON body is not an object")
                else:
                    problems += _compare("json", expect.json, body, expect.extra)
        elif raw:
            problems.append(f"a {content_type} body where the reference sends none")
        for name, value in expect.headers.items():
            got = request.headers.get(name)
            if got is None:
                problems.append(f"header `{name}` missing")
            elif value is not ANY and not re.fullmatch(value, got):
                problems.append(f"header `{name}` is {got!r}, the reference shows {value!r}")
        return problems

    def config(self, name: str) -> PlatformConfig:
        return PlatformConfig(
            name=name,
            client_id="APP_ID",
            client_secret="APP_SECRET",
            auth_base=self.url,
            api_base=self.url,
            upload_base=self.url,
            poll_interval_s=0.01,
            poll_timeout_s=5.0,
            timeout_s=5.0,
        )

    def assert_replayed(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert self.served == len(self.exchanges), (
            f"only {self.served} of {len(self.exchanges)} exchanges were asked for"
        )


@contextmanager
def replay(*exchanges: Exchange) -> Iterator[Replay]:
    """The exchanges served in order on loopback; `assert_replayed()` when done."""
    script = Replay(list(exchanges))
    app = Starlette(routes=[Route("/{path:path}", script.handle, methods=["GET", "POST", "PUT"])])
    with ThreadedServer(app) as server:
        script.url = server.url
        yield script
