"""HTTP for adapters: one client per operation, and transport failures classified once.

A request that never left (connection refused, DNS, pool timeout) is `Retryable`. One that may
have reached the network (read timeout, connection dropped mid-answer) is `Retryable` for reads
and uploads, and `Ambiguous` for the request that publishes (`publishing=True`).
"""

from __future__ import annotations

import socket
import ssl
import time
from email.utils import parsedate_to_datetime
from functools import cache
from types import TracebackType
from typing import Any

import httpx

from t21 import __version__
from t21.core import clock
from t21.core.outside import Ambiguous, Retryable
from t21.platforms.base import PlatformConfig

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every adapter client, built once per process: loading the CA bundle
    takes tens of milliseconds of CPU, which a client per operation would otherwise pay on
    every publish. A context is only read once configured, so sharing it is safe."""
    return httpx.create_ssl_context()


class PlatformHttp:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        # TCP_NODELAY: httpx writes headers and body separately, and without it each request
        # waits for a delayed ACK (~40 ms).
        transport = httpx.AsyncHTTPTransport(
            verify=tls_context(), socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=config.timeout_s,
            headers={"User-Agent": f"T21/{__version__}"},
            follow_redirects=False,
        )

    async def __aenter__(self) -> PlatformHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def request(
        self, method: str, url: str, *, publishing: bool = False, **kwargs: Any
    ) -> httpx.Response:
        name = self.config.name
        try:
            return await self._client.request(method, url, **kwargs)
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
