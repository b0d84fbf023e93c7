"""Replaying a network's published reference examples against its adapter.

An `Exchange` is one request and its answer as the network's documentation shows them, written
as data with the address of the page they came from. `replay(exchanges)` serves them on loopback
in order: every request the adapter sends is compared with the next exchange (method, path,
query, required headers, body fields) and answered with the documented response. A request that
differs is answered 599 and recorded, so the adapter fails loudly; `Replay.check()` then says
which field differed. Response bodies and headers may name `{base}`, the replay's own address
(upload URLs the network hands out).

The check is "at least what the example shows": a documented query parameter, header or body
field must be there with that value (`ANY` accepts any value, `absent()` asserts a field is not
sent); fields the example doesn't show may be added by the adapter. `exact_query` and
`exact_body` make a query or a JSON body match exactly instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from t21.sandbox.server import ThreadedServer


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


@dataclass(frozen=True)
class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Exchange:
    """One documented request and its documented answer."""

    name: str
    source: str  # the URL of the reference page the example comes from
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    # "json": `body` is a JSON object matched field by field; "form": form fields; "bytes":
    # the raw body must equal `body`; None: no body is checked.
    body_kind: str | None = None
    body: Any = None
    status: int = 200
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    exact_query: bool = False
    exact_body: bool = False


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


def _matches(expected: Any, actual: Any, where: str, exact: bool, problems: list[str]) -> None:
    if expected is ANY:
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if value is ABSENT:
                if key in actual:
                    problems.append(f"{where}.{key} is sent but the reference has no such field")
                continue
            if key not in actual:
                problems.append(f"{where}.{key} is missing (expected {value!r})")
                continue
            _matches(value, actual[key], f"{where}.{key}", exact, problems)
        if exact:
            extra = sorted(set(actual) - set(expected))
            if extra:
                problems.append(f"{where} has fields the reference doesn't send: {extra}")
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            problems.append(f"{where} has {len(actual)} items, expected {len(expected)}")
            return
        for index, (one, other) in enumerate(zip(expected, actual, strict=True)):
            _matches(one, other, f"{where}[{index}]", exact, problems)
        return
    if expected != actual:
        problems.append(f"{where} is {actual!r}, expected {expected!r}")


def differences(exchange: Exchange, seen: Seen) -> list[str]:
    """How `seen` differs from what `exchange` documents (empty when it conforms)."""
    problems: list[str] = []
    if (seen.method, seen.path) != (exchange.method, exchange.path):
        return [f"sent {seen.method} {seen.path}, expected {exchange.method} {exchange.path}"]
    query = dict(seen.query)
    if len(query) != len(seen.query):
        problems.append(f"query repeats a parameter: {seen.query}")
    _matches(exchange.query, query, "query", exchange.exact_query, problems)
    headers = {name.lower(): value for name, value in seen.headers.items()}
    wanted = {name.lower(): value for name, value in exchange.headers.items()}
    _matches(wanted, headers, "header", False, problems)
    if exchange.body_kind == "json":
        try:
            body = json.loads(seen.body or b"null")
        except ValueError:
            problems.append("the body isn't JSON")
        else:
            _matches(exchange.body, body, "body", exchange.exact_body, problems)
    elif exchange.body_kind == "form":
        form = dict(parse_qsl(seen.body.decode("utf-8", errors="replace")))
        _matches(exchange.body, form, "form", exchange.exact_body, problems)
    elif exchange.body_kind == "bytes" and seen.body != exchange.body:
        problems.append(f"the body is {len(seen.body)} bytes unlike the reference's")
    return problems


def _fill(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return value.replace("{base}", base)
    if isinstance(value, dict):
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

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            seen = Seen(
                method=request.method,
                path=request.url.path,
                query=parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True),
                headers=dict(request.headers),
                body=await request.body(),
            )
            index = len(self.seen)
            self.seen.append(seen)
            if index >= len(self.exchanges):
                self.problems.append(f"unexpected extra request {seen.method} {seen.path}")
                return Response("no such exchange in the reference", status_code=599)
            exchange = self.exchanges[index]
            wrong = differences(exchange, seen)
            if wrong:
                self.problems.extend(f"{exchange.name}: {problem}" for problem in wrong)
                return Response("\n".join(wrong), status_code=599)
            headers = _fill(exchange.response_headers, self.url)
            if exchange.response is None:
                return Response(status_code=exchange.status, headers=headers)
            content = json.dumps(_fill(exchange.response, self.url))
            return Response(
                content,
                status_code=exchange.status,
                headers=headers,
                media_type="application/json",
            )

        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return Starlette(routes=[Route("/{path:path}", answer, methods=methods)])

    def check(self) -> None:
        """Every exchange was sent, in order, as the reference shows it."""
        assert not self.problems, "\n".join(self.problems)
        sent = len(self.seen)
        missing = [exchange.name for exchange in self.exchanges[sent:]]
        assert not missing, f"never sent: {missing}"


@contextmanager
def replay(exchanges: list[Exchange]) -> Iterator[Replay]:
    """Serve `exchanges` on loopback for the length of the block."""
    served = Replay(list(exchanges))
    with ThreadedServer(served.app()) as server:
        served.url = server.url
        yield served


def unique_sources(exchanges: list[Exchange]) -> set[str]:
    return {exchange.source for exchange in exchanges}
