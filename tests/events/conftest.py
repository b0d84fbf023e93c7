"""Events against the real app: the API in-process, the sandbox networks over HTTP, and a
Server-Sent Events reader that sees the stream's body piece by piece as the server sends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.types import ASGIApp

from tests.publishing.conftest import Engine, engine, public_engine  # noqa: F401  (fixtures)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)

EVENTS = "/api/v1/events"
# Generous: an event reaches a live stream well within a second; this only stops a hung test.
RECEIVE_TIMEOUT_S = 10.0


@dataclass
class SseEvent:
    id: str | None
    name: str | None
    data: dict[str, Any] | None


@dataclass
class Stream:
    """One open `GET /api/v1/events/stream`, read as the server writes it."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    body: bytes = b""
    _buffer: bytes = b""
    _pieces: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    async def next_event(self, timeout: float = RECEIVE_TIMEOUT_S) -> SseEvent:
        """The next message with data (comments are kept in `comments`)."""
        async with asyncio.timeout(timeout):
            while True:
                while b"\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split(b"\n\n", 1)
                    found = self._parse(block.decode())
                    if found is not None:
                        return found
                piece = await self._pieces.get()
                if piece is None:
                    raise AssertionError("the stream ended")
                self._buffer += piece

    async def events(self, count: int, timeout: float = RECEIVE_TIMEOUT_S) -> list[SseEvent]:
        return [await self.next_event(timeout) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.3) -> None:
        """No further event arrives within `wait` (a short look: what must not come)."""
        try:
            extra = await self.next_event(timeout=wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {extra}")

    def _parse(self, block: str) -> SseEvent | None:
        event: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
        if "data" not in event:
            return None
        return SseEvent(id=event.get("id"), name=event.get("event"), data=json.loads(event["data"]))


@asynccontextmanager
async def open_stream(
    app: ASGIApp,
    headers: dict[str, str],
    *,
    on_open: Callable[[], Awaitable[None]] | None = None,
    **params: str,
) -> AsyncIterator[Stream]:
    """The stream, open until the block ends (then the client leaves). `on_open` runs the moment
    the response's headers arrive, before the server goes on (a client's `EventSource.onopen`)."""
    stream = Stream()
    leave = asyncio.Event()
    started = asyncio.Event()
    asked = False
    path = f"{EVENTS}/stream"
    every = {"accept": "text/event-stream"} | {k.lower(): v for k, v in headers.items()}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(params).encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.encode(), v.encode()) for k, v in every.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            started.set()
            if on_open is not None:
                await on_open()
        elif message["type"] == "http.response.body":
            piece = message.get("body", b"")
            stream.body += piece
            if piece:
                stream._pieces.put_nowait(piece)
            if not message.get("more_body", False):
                stream._pieces.put_nowait(None)

    async def serve() -> None:
        await app(scope, receive, send)

    task = asyncio.create_task(serve())
    try:
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            await started.wait()
        yield stream
    finally:
        leave.set()
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            await task


async def list_events(
    api: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await api.get(EVENTS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def types_of(engine: Engine, **params: Any) -> list[str]:  # noqa: F811
    """The types of the owner's events, oldest first."""
    body = await list_events(engine.api, engine.owner.headers, limit=100, **params)
    return [item["type"] for item in reversed(body["items"])]
