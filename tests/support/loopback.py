"""HTTP from the tests to servers on loopback (the fakes' `/_control` APIs, the sandbox):
`httpx.get`/`post`/`request` with the process's TLS context. Each of httpx's one-off calls
otherwise builds a client that loads the certificate authorities' bundle, about 20-40 ms of CPU,
more than the request itself; the suite makes thousands of them."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

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
