"""Threads' settings (`T21_THREADS_…`): T21's Threads app (its *Threads* app id and secret, not
the Meta app's), the authorize window's host, the Graph host and the scopes to ask for."""

from __future__ import annotations

from typing import ClassVar

from t21.platforms.settings import ScopedNetwork


class ThreadsSettings(ScopedNetwork):
    real_auth_base: ClassVar[str] = "https://threads.net"
    real_api_base: ClassVar[str] = "https://graph.threads.net"
