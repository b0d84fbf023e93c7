"""TLS for T21's outgoing HTTP clients: one context per process.

Building a context loads the certificate authorities' bundle (certifi's, as httpx does by
default), which costs about 20 ms of CPU — more than a whole request on loopback. A client made
per operation (a login, a webhook delivery, a fake fetching media) would pay it every time. A
context is only read once configured, so every client of the process can share it.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every outgoing `httpx` client passes as `verify`."""
    return httpx.create_ssl_context()
