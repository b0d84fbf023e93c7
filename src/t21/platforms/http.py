"""HTTP for adapters: long-lived clients per network, and transport failures classified once.

A process with a runtime keeps its `httpx.AsyncClient`s per network configuration and event
loop (`PlatformClients`, on `runtime.state`), so a burst of publishes to one network reuses its
TCP (and TLS) connections instead of opening one per request; the runtime closes them when it
stops. Outside a runtime (a script, an adapter tested alone) each `PlatformHttp` block gets a
client of its own, closed when the block ends. A network's connections are spread over clients
of at most `CONNECTIONS_PER_CLIENT` each, a request going to the one with the most room:
httpcore's pool looks at every one of its connections (polling the idle ones' sockets, and
counting them all once per idle connection) when a request starts and ends: with one pool of up
to a hundred connections that was a tenth of a busy worker's CPU, and splitting it nearly halved
the CPU per publish at both ends (bench/README.md, `publish_throughput.py`).
Pool size and idle time are settings
(`T21_PLATFORM_MAX_CONNECTIONS`, `T21_PLATFORM_KEEPALIVE_S`); the per-request timeout is the
network configuration's, as before. An idle connection is kept for less time than common
servers keep it open (uvicorn: 5 s), and httpcore drops an idle connection whose server has
already closed it, so a reused connection is rarely found dead only once a request is on it.

A request that certainly never left — the connection could not be made (refused, DNS, connect
timeout) or no connection of the pool came free in time (pool timeout) — is `Retryable`. One
that may have reached the network (read or write timeout, connection dropped mid-request or
mid-answer) is `Retryable` for reads and uploads, and `Ambiguous` for the request that
publishes (`publishing=True`).

Source: https://www.python-httpx.org/advanced/resource-limits
Source: https://www.python-httpx.org/exceptions
Source: https://github.com/encode/httpcore/blob/master/httpcore/_async/http11.py
"""

from __future__ import annotations

import asyncio
import socket
import time
import weakref
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from t21 import __version__
from t21.core import clock
from t21.core.outside import Ambiguous, Retryable
from t21.core.runtime import get_runtime
from t21.core.tls import tls_context
from t21.platforms.base import PlatformConfig

if TYPE_CHECKING:
    from t21.core.runtime import Runtime

# Raised before any byte of the request was written: no connection could be had.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


# A client for one block outside a runtime: httpx's defaults.
_ONE_OFF_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps none. A network's client is shared by all its accounts, of every
    organization: a cookie set on one account's answer would go out with the next account's
    request. The networks' APIs authenticate by token, never by cookie. (httpx also read every
    answer's `Set-Cookie` through urllib's cookie machinery, ~5 % of a publishing worker's CPU.)"""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.AsyncClient):
    """httpx's client, keeping no cookies (`_NoCookies`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _NoCookies()


def _new_client(config: PlatformConfig, limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    # TCP_NODELAY: httpx writes headers and body separately, and without it each request
    # waits for a delayed ACK (~40 ms).
    transport = httpx.AsyncHTTPTransport(
        verify=tls_context(),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=limits or _ONE_OFF_LIMITS,
    )
    return _Client(
        transport=transport,
        timeout=config.timeout_s,
        headers={"User-Agent": f"T21/{__version__}"},
        follow_redirects=False,
    )


# The most connections of one network a single client pools (see the module's docstring).
CONNECTIONS_PER_CLIENT = 8


class _NetworkClients:
    """The clients of one network configuration in one loop: the network's connection limit
    split among them, each opened at its first use, with the requests in flight on each."""

    def __init__(self, config: PlatformConfig, limits: httpx.Limits) -> None:
        self.config = config
        total = limits.max_connections or CONNECTIONS_PER_CLIENT
        count = -(-total // CONNECTIONS_PER_CLIENT)
        self.limits = [
            httpx.Limits(
                max_connections=size,
                max_keepalive_connections=size,
                keepalive_expiry=limits.keepalive_expiry,
            )
            for size in (total // count + (1 if i < total % count else 0) for i in range(count))
        ]
        self.clients: list[httpx.AsyncClient | None] = [None] * count
        self.busy = [0] * count

    def roomiest(self) -> int:
        """The client with the most free connections (the first of equals, so a quiet
        network's requests share one client and its kept-alive connections)."""
        best, room = 0, -1
        for i, limits in enumerate(self.limits):
            free = (limits.max_connections or 0) - self.busy[i]
            if free > room:
                best, room = i, free
        return best

    def client(self, i: int) -> httpx.AsyncClient:
        found = self.clients[i]
        if found is None or found.is_closed:
            found = self.clients[i] = _new_client(self.config, self.limits[i])
        return found

    def open(self) -> list[httpx.AsyncClient]:
        return [client for client in self.clients if client is not None and not client.is_closed]


class PlatformClients:
    """The long-lived network clients of one process: per network configuration and event loop
    (a client's connections belong to the loop that opened them)."""

    def __init__(self, *, max_connections: int, keepalive_s: float) -> None:
        self.limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_s,
        )
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[PlatformConfig, _NetworkClients]
        ] = weakref.WeakKeyDictionary()

    def _network(self, config: PlatformConfig) -> _NetworkClients:
        networks = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        found = networks.get(config)
        if found is None:
            found = networks[config] = _NetworkClients(config, self.limits)
        return found

    def client(self, config: PlatformConfig) -> httpx.AsyncClient:
        """A client of `config`'s network with room for a request."""
        network = self._network(config)
        return network.client(network.roomiest())

    async def request(
        self, config: PlatformConfig, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        """A request on the client of `config`'s network with the most room, counted as in flight
        there until it is answered."""
        network = self._network(config)
        i = network.roomiest()
        client = network.client(i)
        network.busy[i] += 1
        try:
            return await client.request(method, url, **kwargs)
        finally:
            network.busy[i] -= 1

    def open_count(self) -> int:
        """Clients open in the running loop."""
        networks = self._by_loop.get(asyncio.get_running_loop(), {})
        return sum(len(network.open()) for network in networks.values())

    async def aclose(self) -> None:
        """Close the running loop's clients; forget those of other loops (their loop is gone or
        will close their sockets with it)."""
        networks = self._by_loop.pop(asyncio.get_running_loop(), {})
        self._by_loop.clear()
        for network in networks.values():
            for client in network.open():
                await client.aclose()


PLATFORM_CLIENTS = "platform_clients"


def install_clients(runtime: Runtime) -> PlatformClients:
    """Give `runtime` its long-lived network clients (closed by `close_clients`)."""
    settings = runtime.settings
    clients = PlatformClients(
        max_connections=settings.platform_max_connections,
        keepalive_s=settings.platform_keepalive_s,
    )
    runtime.state[PLATFORM_CLIENTS] = clients
    return clients


async def close_clients(runtime: Runtime) -> None:
    clients = runtime.state.pop(PLATFORM_CLIENTS, None)
    if isinstance(clients, PlatformClients):
        await clients.aclose()


def _shared_clients() -> PlatformClients | None:
    try:
        found = get_runtime().state.get(PLATFORM_CLIENTS)
    except RuntimeError:  # no runtime in this process
        return None
    return found if isinstance(found, PlatformClients) else None


class PlatformHttp:
    """Requests to one network. `async with PlatformHttp(config) as http:` borrows the process's
    client for `config` (or, outside a runtime, opens one for the block)."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self._own: httpx.AsyncClient | None = None

    async def __aenter__(self) -> PlatformHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own is not None:
            await self._own.aclose()
            self._own = None

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        shared = _shared_clients()
        if shared is not None:
            return await shared.request(self.config, method, url, **kwargs)
        if self._own is None:
            self._own = _new_client(self.config)
        return await self._own.request(method, url, **kwargs)

    async def request(
        self, method: str, url: str, *, publishing: bool = False, **kwargs: Any
    ) -> httpx.Response:
        name = self.config.name
        try:
            return await self._send(method, url, **kwargs)
        except _NOT_SENT as exc:
            raise Retryable(
                f"{name} unreachable: {type(exc).__name__}", code="unreachable"
            ) from exc
        except httpx.HTTPError as exc:
            message = f"{name} did not answer: {type(exc).__name__}"
            if publishing:
                raise Ambiguous(message, code="no_answer") from exc
            raise Retryable(message, code="no_answer") from exc


def retry_after_seconds(response: httpx.Response, *reset_headers: str) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or a date), else from the first of
    `reset_headers` present (Unix time of the window's reset)."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - clock.now()).total_seconds())
            except (TypeError, ValueError):
                pass
    for header in reset_headers:
        reset = response.headers.get(header)
        if reset:
            try:
                return max(0.0, float(reset) - time.time())
            except ValueError:
                continue
    return None


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
