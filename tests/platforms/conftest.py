"""The adapter tests' shared set-up: a module serves its network's fake as the `served` fixture
(`harness.serve(create_<network>_app())`, once per module) and takes from here `fake` (that
fake, forgotten before each test), `media` (a media server the fakes download from) and, for
Bluesky, `bsky` (the adapter pointed at the fake). A module that needs its own takes it by
defining a fixture of the same name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from t21.platforms.bluesky import BlueskyProvider
from tests.platforms.harness import FakeNetwork, MediaServer, media_server


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    with media_server() as server:
        yield server


@pytest.fixture
def fake(served: FakeNetwork) -> FakeNetwork:
    """The module's fake, forgotten and back to its default settings."""
    served.reset()
    return served


@pytest.fixture
def bsky(fake: FakeNetwork) -> BlueskyProvider:
    return BlueskyProvider(fake.config("bluesky"))
