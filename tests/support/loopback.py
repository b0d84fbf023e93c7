"""HTTP from the tests to servers on loopback (the fakes' `/_control` APIs, the sandbox):
`httpx.get`/`post`/`request` with the process's TLS context. Each of httpx's one-off calls
otherwise builds a client that loads the certificate authorities' bundle, about 20-40 ms of CPU,
more than the request itself; the suite makes thousands of them. And `PublicPort`: the app
under test answering on a loopback port too, as its public URL."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from t21.core.tls import tls_context


def request(method: str, url: str, **options: Any) -> httpx.Response:
    return httpx.request(method, url, verify=tls_context(), **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)


def count_ca_loads(patch: pytest.MonkeyPatch) -> list[Any]:
    """Every load of a certificate authorities' bundle from now on (while `patch` holds), noted
    in the returned list: a client built without the shared context loads one."""
    loads: list[Any] = []
    original = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    patch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    return loads


class PublicPort:
    """A loopback port where the app under test answers too, as its public URL (the networks'
    fakes fetch what T21 links to there). Its URL is known before the app is made (the app's
    settings name it); `serve(app)` answers on it from the caller's event loop, with the app
    already started: the one app and its runtime, never a second app whose lifespan would
    install a runtime of its own over the test's."""

    def __init__(self) -> None:
        # IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (see ThreadedServer).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._socket.close()

    @asynccontextmanager
    async def serve(self, app: ASGIApp) -> AsyncIterator[None]:
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[self._socket]))
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError(f"nothing answers on {self.url}")
                await asyncio.sleep(0.01)
            yield
        finally:
            server.should_exit = True
            await serving
