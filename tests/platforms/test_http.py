"""The adapters' HTTP: a process keeps its connections to a network between requests, and a
failure is doubtful only when the request may have left.

A small server on loopback records the client port of every request (one port is one TCP
connection) and can hold an answer or drop the connection mid-answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from t21.core.outside import Ambiguous, Retryable
from t21.core.runtime import Runtime
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PLATFORM_CLIENTS, PlatformClients, PlatformHttp
from t21.sandbox.server import ThreadedServer


class Recorder:
    """Answers 200 at once on `/ok`, after `hold_s` on `/slow`; `/drop` closes the connection
    without answering. Notes the client port of every request."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.cookies: list[str | None] = []
        self.hold_s = 2.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.ports.append(scope["client"][1])
        sent = dict(scope["headers"])
        self.cookies.append(sent[b"cookie"].decode() if b"cookie" in sent else None)
        if scope["path"] == "/cookie":
            # An answer that sets a cookie, as some networks' APIs do (X's `guest_id`).
            set_cookie = [(b"set-cookie", b"session=account-one; Path=/")]
            await send({"type": "http.response.start", "status": 200, "headers": set_cookie})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        if scope["path"] == "/drop":
            # A part of the answer, then the connection closes (uvicorn, on the error).
            headers = [(b"content-length", b"100")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise RuntimeError("connection dropped mid-answer")
        if scope["path"] == "/slow":
            await asyncio.sleep(self.hold_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    app = Recorder()
    with ThreadedServer(app) as server:
        yield app, server.url


def config(base: str, timeout_s: float = 5.0) -> PlatformConfig:
    return PlatformConfig(
        name="example",
        client_id="t21",
        client_secret="secret",
        auth_base=base,
        api_base=base,
        timeout_s=timeout_s,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_process_reuses_its_connection_to_a_network(
    runtime: Runtime, recorder: tuple[Recorder, str]
) -> None:
    app, base = recorder
    for _ in range(3):
        async with PlatformHttp(config(base)) as http:
            assert (await http.request("POST", f"{base}/ok", publishing=True)).status_code == 200
    assert len(app.ports) == 3
    assert len(set(app.ports)) == 1, app.ports
    clients = runtime.state[PLATFORM_CLIENTS]
    assert isinstance(clients, PlatformClients)
    assert clients.open_count() == 1


async def test_a_cookie_set_on_one_accounts_answer_never_goes_out_with_the_next_request(
    runtime: Runtime, recorder: tuple[Recorder, str]
) -> None:
    # The client is the network's, shared by every account of every organization.
    app, base = recorder
    async with PlatformHttp(config(base)) as http:
        await http.request("GET", f"{base}/cookie")
        await http.request("POST", f"{base}/ok", publishing=True)
    assert app.cookies == [None, None]
    assert len(set(app.ports)) == 1, app.ports


async def test_outside_a_runtime_a_block_closes_its_own_client(
    recorder: tuple[Recorder, str],
) -> None:
    app, base = recorder
    for _ in range(2):
        async with PlatformHttp(config(base)) as http:
            await http.request("GET", f"{base}/ok")
    assert len(set(app.ports)) == 2


async def test_a_refused_connection_is_retried_even_when_publishing(runtime: Runtime) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    async with PlatformHttp(config(base)) as http:
        with pytest.raises(Retryable) as raised:
            await http.request("POST", f"{base}/publish", publishing=True)
    assert not isinstance(raised.value, Ambiguous)
    assert raised.value.code == "unreachable"


async def test_waiting_for_a_free_connection_is_retried_not_doubtful(
    app_factory: Any, recorder: tuple[Recorder, str]
) -> None:
    """One connection allowed: while it carries a slow request, a publish that can't get a
    connection within the timeout never left, so it is simply retried."""
    app, base = recorder
    built = app_factory(platform_max_connections=1)
    async with built.router.lifespan_context(built):
        network = config(base, timeout_s=3.0)
        clients = built.state.runtime.state[PLATFORM_CLIENTS]
        holding = asyncio.create_task(clients.client(network).get(f"{base}/slow"))
        while not app.ports:
            await asyncio.sleep(0.01)
        async with PlatformHttp(network) as http:
            with pytest.raises(Retryable) as raised:
                await http.request("POST", f"{base}/ok", publishing=True, timeout=0.3)
        assert not isinstance(raised.value, Ambiguous)
        assert raised.value.code == "unreachable"
        assert (await holding).status_code == 200
    assert len(app.ports) == 1  # the publish never reached the server


async def test_no_answer_in_time_is_doubtful_when_publishing_and_retried_when_reading(
    runtime: Runtime, recorder: tuple[Recorder, str]
) -> None:
    app, base = recorder
    app.hold_s = 1.0
    async with PlatformHttp(config(base, timeout_s=0.2)) as http:
        with pytest.raises(Ambiguous):
            await http.request("POST", f"{base}/slow", publishing=True)
        with pytest.raises(Retryable) as raised:
            await http.request("GET", f"{base}/slow")
    assert not isinstance(raised.value, Ambiguous)
    assert raised.value.code == "no_answer"


async def test_a_connection_dropped_before_the_answer_is_doubtful_when_publishing(
    runtime: Runtime, recorder: tuple[Recorder, str]
) -> None:
    _app, base = recorder
    async with PlatformHttp(config(base)) as http:
        with pytest.raises(Ambiguous):
            await http.request("POST", f"{base}/drop", publishing=True)
        with pytest.raises(Retryable) as raised:
            await http.request("GET", f"{base}/drop")
    assert not isinstance(raised.value, Ambiguous)


async def test_a_network_config_with_extras_gets_its_own_kept_client() -> None:
    """A network whose settings add `extras` (Bluesky's OAuth key) keys the process's clients
    like any other: one client per distinct configuration."""
    clients = PlatformClients(max_connections=4, keepalive_s=1.0)

    def config(key: str) -> PlatformConfig:
        return PlatformConfig(
            name="bluesky",
            client_id="",
            client_secret="",
            auth_base="http://a",
            api_base="http://a",
            extras={"oauth_key": key},
        )

    first, same, other = config("one"), config("one"), config("two")
    try:
        assert clients.client(first) is clients.client(same)
        assert clients.client(other) is not clients.client(first)
    finally:
        await clients.aclose()


class Gathering:
    """Holds every request until `expected` have arrived (or `give_up_s` passed), then answers
    them all; notes the client port of every request."""

    def __init__(self, expected: int, give_up_s: float = 10.0) -> None:
        self.expected = expected
        self.give_up_s = give_up_s
        self.ports: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.ports.append(scope["client"][1])
        waited = 0.0
        while len(self.ports) < self.expected and waited < self.give_up_s:
            await asyncio.sleep(0.01)
            waited += 0.01
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def test_a_burst_uses_every_allowed_connection_spread_over_small_pools() -> None:
    """Twelve requests at once with ten connections allowed (two clients of five): ten go out
    on connections of their own, the other two wait for one of those and reuse it."""
    app = Gathering(expected=10)
    clients = PlatformClients(max_connections=10, keepalive_s=5.0)
    with ThreadedServer(app) as server:
        network = config(server.url)
        try:
            answers = await asyncio.gather(
                *(clients.request(network, "GET", f"{server.url}/ok") for _ in range(12))
            )
            assert [answer.status_code for answer in answers] == [200] * 12
            assert len(app.ports) == 12
            assert len(set(app.ports)) == 10, app.ports
            assert clients.open_count() == 2
        finally:
            await clients.aclose()
