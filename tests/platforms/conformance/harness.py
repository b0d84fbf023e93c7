"""Replaying a network's published reference examples against its adapter.

An `Exchange` is one request and its answer as the network's documentation shows them, written
as data with the URL of the page they came from: an `Expect` (what the client sends) and a
`Reply` (what the network answers). `replay(*exchanges)` serves them in order on loopback. Every
request the adapter sends is compared with the next exchange; a request that differs is answered
418 and recorded in `Replay.problems` with the field that differed. `Replay.check()` fails
listing them all, as it does for a request too many or an exchange never asked for; when the
adapter raises out of the `replay` block after a refusal, the block fails with that list too. A
matching request gets the documented reply. Reply bodies and headers may name `{base}`, the
replay's own address (upload URLs the network hands out). Every request is kept in
`Replay.seen` for tests that look at what was sent beyond the documented shape (uploaded bytes,
a content type).

What is compared:
- method, and path: literal, except `{placeholders}` that stand for one segment each;
- query string, form body and JSON body, each in its own place: every parameter the example
  shows must be there with that value, and a parameter it doesn't show is refused unless named in
  `extra` (documented on another page: say which, next to the exchange). A repeated query
  parameter is refused. Nested JSON objects need at least the example's fields; `exact=True`
  refuses extra fields at every depth. Lists match item by item, same length;
- a form or JSON body must come with its content type; no `form`/`json`/`body` means no body at
  all; `body=b"..."` is a raw body compared byte for byte, `body=ANY` any non-empty body
  (multipart uploads, checked by the test through `seen`);
- headers: each shown header must be there with that value (case-insensitive names); others
  are not checked.

Values: a literal is compared exactly; `ANY` accepts any value (tokens, ids T21 makes up);
`ABSENT` asserts the field or header is not sent; `OneOf(("true", True))` accepts any of those
(the reference's literal and what the API reads the same); a compiled `re.Pattern` must match
the whole string value.
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
from starlette.responses import Response
from starlette.routing import Route

from t21.platforms.base import PlatformConfig
from t21.sandbox.server import ThreadedServer


class _Any:
    """Present, with whatever value."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


class _Absent:
    """Not sent at all."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class OneOf:
    """Any of these values: the reference's literal (`"true"`) and what the API reads the same
    (a JSON `true`)."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Expect:
    """What the reference shows the client sending (see the module docstring for how each part
    is compared)."""

    method: str
    path: str
    query: Mapping[str, Any] = field(default_factory=dict)
    form: Mapping[str, Any] | None = None
    json: Mapping[str, Any] | None = None
    body: Any = None  # raw bytes, or ANY; None with no form/json: no body
    headers: Mapping[str, Any] = field(default_factory=dict)
    extra: frozenset[str] = frozenset()
    exact: bool = False


@dataclass(frozen=True)
class Reply:
    """What the reference shows the network answering; `body` None is an empty body."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    name: str
    source: str  # the URL of the reference page the example comes from
    expect: Expect
    reply: Reply = field(default_factory=Reply)


@dataclass
class Seen:
    """One request as the adapter sent it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


def _path_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


def _match(expected: Any, actual: Any, where: str, exact: bool, problems: list[str]) -> None:
    if expected is ANY:
        return
    if isinstance(expected, re.Pattern):
        if not (isinstance(actual, str) and expected.fullmatch(actual)):
            problems.append(f"{where} is {actual!r}, the reference shows /{expected.pattern}/")
        return
    if isinstance(expected, OneOf):
        if not any(not _problems_of(value, actual, exact) for value in expected.values):
            problems.append(f"{where} is {actual!r}, the reference shows one of {expected.values}")
        return
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key, value in expected.items():
            if value is ABSENT:
                if key in actual:
                    problems.append(f"{where}.{key} is sent, the reference has no such field")
            elif key not in actual:
                problems.append(f"{where}.{key} is missing (the reference shows {value!r})")
            else:
                _match(value, actual[key], f"{where}.{key}", exact, problems)
        if exact:
            extra = sorted(set(actual) - set(expected))
            if extra:
                problems.append(f"{where} has fields the reference doesn't show: {extra}")
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            problems.append(f"{where} has {len(actual)} items, the reference shows {len(expected)}")
            return
        for index, (one, other) in enumerate(zip(expected, actual, strict=True)):
            _match(one, other, f"{where}[{index}]", exact, problems)
        return
    if expected != actual:
        problems.append(f"{where} is {actual!r}, the reference shows {expected!r}")


def _problems_of(expected: Any, actual: Any, exact: bool) -> list[str]:
    problems: list[str] = []
    _match(expected, actual, "", exact, problems)
    return problems


def _compare(
    where: str, wanted: Mapping[str, Any], got: Mapping[str, Any], expect: Expect
) -> list[str]:
    """The top level of a query, form or JSON body: the example's parameters and no others."""
    problems: list[str] = []
    _match(wanted, got, where, expect.exact, problems)
    if not expect.exact:
        for name in got:
            if name not in wanted and name not in expect.extra:
                problems.append(f"{where}.{name} is sent, the reference example has no such field")
    return problems


def differences(expect: Expect, seen: Seen) -> list[str]:
    """How `seen` differs from what `expect` documents (empty when it conforms)."""
    problems: list[str] = []
    if seen.method != expect.method:
        problems.append(f"method {seen.method}, the reference shows {expect.method}")
    if not _path_pattern(expect.path).fullmatch(seen.path):
        problems.append(f"path {seen.path}, the reference shows {expect.path}")
    query = dict(seen.query)
    if len(query) != len(seen.query):
        problems.append(f"query repeats a parameter: {seen.query}")
    problems += _compare("query", expect.query, query, expect)
    headers = {name.lower(): value for name, value in seen.headers.items()}
    content_type = headers.get("content-type", "").partition(";")[0].strip()
    if expect.form is not None:
        if content_type != "application/x-www-form-urlencoded":
            problems.append(f"body is {content_type or 'empty'}, the reference sends a form")
        form = dict(parse_qsl(seen.body.decode(errors="replace"), keep_blank_values=True))
        problems += _compare("form", expect.form, form, expect)
    elif expect.json is not None:
        if content_type != "application/json":
            problems.append(f"body is {content_type or 'empty'}, the reference sends JSON")
        try:
            body = json.loads(seen.body) if seen.body else None
        except ValueError:
            problems.append("the body isn't JSON")
        else:
            if isinstance(body, dict):
                problems += _compare("json", expect.json, body, expect)
            elif body is not None:
                problems.append("the JSON body is not an object")
    elif expect.body is ANY:
        if not seen.body:
            problems.append("no body, the reference sends one")
    elif expect.body is not None:
        if seen.body != expect.body:
            problems.append(f"the body is {len(seen.body)} bytes unlike the reference's")
    elif seen.body:
        problems.append(f"a body ({content_type or 'untyped'}) where the reference sends none")
    wanted = {name.lower(): value for name, value in expect.headers.items()}
    _match(wanted, headers, "header", False, problems)
    return problems


def _fill(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return value.replace("{base}", base)
    if isinstance(value, Mapping):
        return {key: _fill(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, base) for item in value]
    return value


@dataclass
class Replay:
    """The served exchanges, what was sent, and what didn't conform."""

    exchanges: list[Exchange]
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        seen = Seen(
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers=dict(request.headers),
            body=await request.body(),
        )
        index = len(self.seen)
        self.seen.append(seen)
        if index >= len(self.exchanges):
            self.problems.append(f"unexpected request {seen.method} {seen.path}")
            return Response("no more exchanges in the reference", status_code=418)
        exchange = self.exchanges[index]
        wrong = differences(exchange.expect, seen)
        if wrong:
            self.problems += [f"{exchange.name}: {problem}" for problem in wrong]
            return Response("\n".join(wrong), status_code=418)
        reply = exchange.reply
        headers = _fill(reply.headers, self.url)
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return Response(
            json.dumps(_fill(reply.body, self.url)),
            status_code=reply.status,
            headers=headers,
            media_type="application/json",
        )

    def config(self, name: str) -> PlatformConfig:
        """An adapter configuration pointing every base URL at the replay."""
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

    def check(self) -> None:
        """Every exchange was asked for, in order, as the reference shows it, and nothing else."""
        assert not self.problems, "\n".join(self.problems)
        missing = [exchange.name for exchange in self.exchanges[len(self.seen) :]]
        assert not missing, f"never sent: {missing}"


@contextmanager
def replay(*exchanges: Exchange) -> Iterator[Replay]:
    """Serve `exchanges` in order on loopback for the length of the block."""
    served = Replay(list(exchanges))
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", served.handle, methods=methods)])
    with ThreadedServer(app) as server:
        served.url = server.url
        try:
            yield served
        except Exception as failure:
            # The adapter gave up on a refused request: say what differed, not just its error.
            if served.problems:
                raise AssertionError("\n".join(served.problems)) from failure
            raise
