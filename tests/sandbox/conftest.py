"""The sandbox's OAuth fakes served over real HTTP on loopback, a fresh state for each test.
The state object is shared with the server thread, so a test can move its clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from t21.core.tls import tls_context
from t21.sandbox.github import GitHubState, create_github_app
from t21.sandbox.google import GoogleState, create_google_app
from t21.sandbox.server import ThreadedServer


@dataclass
class Clock:
    """The fakes' time, moved only by the test."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def google_state() -> GoogleState:
    return GoogleState()


@pytest.fixture
def google(google_state: GoogleState) -> Iterator[httpx.Client]:
    """A client of the Google fake (redirects are not followed: tests read them)."""
    with (
        ThreadedServer(create_google_app(google_state)) as server,
        httpx.Client(verify=tls_context(), base_url=server.url) as http,
    ):
        yield http


@pytest.fixture
def github_state() -> GitHubState:
    return GitHubState()


@pytest.fixture
def github(github_state: GitHubState) -> Iterator[httpx.Client]:
    """A client of the GitHub fake (redirects are not followed: tests read them)."""
    with (
        ThreadedServer(create_github_app(github_state)) as server,
        httpx.Client(verify=tls_context(), base_url=server.url) as http,
    ):
        yield http
