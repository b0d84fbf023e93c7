"""A real HTTP receiver on loopback, and an organization with webhook endpoints pointed at it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.worker.loops import LoopRunner
from t21.worker.queue import JobQueue
from tests.support.accounts import Account, register

WEBHOOKS = "/api/v1/webhooks"
FAST = {
    "webhook_retry_base_s": 30.0,
    # The receiver answers at once, but on a loaded machine an answer can take over a second:
    # waiting longer costs a test nothing.
    "webhook_timeout_s": 10.0,
    "webhook_lease_s": 5.0,
    "webhook_response_excerpt_bytes": 64,
}
# A test marked `lost_answer` has the receiver hold an answer back until T21 gives up on it:
# there T21 gives up after this long, and the receiver holds the answer longer.
LOST_ANSWER_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # What verifying it on arrival gave (its payload, or the library's error), when the receiver
    # was given the secret: a signature's timestamp is judged against the moment it arrived,
    # not the end of a run that lasted longer than the library's five-minute tolerance.
    on_arrival: dict[str, Any] | Exception | None = None

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict[str, Any]:
        """The payload, verified with the standardwebhooks library (raises if it doesn't)."""
        payload: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return payload


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 recording every request; each path answers from its script
    of (status, delay seconds), then 200."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set to the endpoint's secret to verify each request as it arrives (`Received.on_arrival`).
    secret: str | None = None

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def script(self, path: str, *answers: tuple[int, float]) -> None:
        with self.lock:
            self.scripts[path] = list(answers)

    def next_answer(self, path: str) -> tuple[int, float]:
        with self.lock:
            queue = self.scripts.get(path)
            return queue.pop(0) if queue else (200, 0.0)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a worker killed while sending): like any HTTP
                # server, the receiver never hands a cut-off request on, nor answers it.
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            on_arrival: dict[str, Any] | Exception | None = None
            if receiver.secret is not None:
                try:
                    on_arrival = Webhook(receiver.secret).verify(body, headers)
                except Exception as exc:  # the library's verification error, or a missing header
                    on_arrival = exc
            with receiver.lock:
                receiver.received.append(
                    Received(path=self.path, headers=headers, body=body, on_arrival=on_arrival)
                )
            status, delay = receiver.next_answer(self.path)
            if delay:
                time.sleep(delay)
            answer = f"answer {status} " + ("\x00\xff" if status == 418 else "x" * 200)
            try:
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    recorder.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def app(app_factory: Any, request: pytest.FixtureRequest) -> FastAPI:
    short = request.node.get_closest_marker("lost_answer") is not None
    result: FastAPI = app_factory(
        **(FAST | ({"webhook_timeout_s": LOST_ANSWER_TIMEOUT_S} if short else {}))
    )
    return result


@dataclass
class Hooks:
    """The API, an owner and their organization, and the worker machinery run on demand."""

    api: httpx.AsyncClient
    runtime: Runtime
    owner: Account

    @property
    def org(self) -> uuid.UUID:
        return self.owner.personal_organization_id

    @property
    def jobs(self) -> JobQueue:
        assert isinstance(self.runtime.jobs, JobQueue)
        return self.runtime.jobs

    @property
    def loops(self) -> LoopRunner:
        runner = self.runtime.state["loops"]
        assert isinstance(runner, LoopRunner)
        return runner

    async def create(self, url: str, account: Account | None = None, **body: Any) -> dict[str, Any]:
        response = await self.api.post(
            WEBHOOKS, json={"url": url, **body}, headers=(account or self.owner).headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def test_event(self, endpoint_id: str) -> str:
        response = await self.api.post(f"{WEBHOOKS}/{endpoint_id}/test", headers=self.owner.headers)
        assert response.status_code == 202, response.text
        event_id: str = response.json()["event_id"]
        return event_id

    async def emit(self, type: str, data: dict[str, Any] | None = None) -> str:
        """An event of the owner's organization, as a state change would record it."""
        async with session_scope(self.runtime) as session:
            event = await record_event(
                session, organization_id=self.org, type=type, data=data or {"n": 1}
            )
        return event.id

    async def deliver_due(self) -> None:
        """One pass of the dispatcher, then every delivery job it caused."""
        await self.jobs.drain(timeout=20)
        await self.loops.run_once("webhooks.dispatch")
        await self.jobs.drain(timeout=20)

    async def deliveries(self, endpoint_id: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        response = await self.api.get(
            f"{WEBHOOKS}/{endpoint_id}/deliveries", params=params, headers=self.owner.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def delivery(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        response = await self.api.get(
            f"{WEBHOOKS}/{endpoint_id}/deliveries/{delivery_id}", headers=self.owner.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def hooks(client: httpx.AsyncClient, runtime: Runtime) -> Hooks:
    return Hooks(api=client, runtime=runtime, owner=await register(client))


def later(seconds: float) -> Callable[[], datetime]:
    """A clock running `seconds` ahead of the real one (for `clock.frozen`)."""
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)
