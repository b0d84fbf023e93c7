"""What a publish costs the worker beyond the network's own time."""

from __future__ import annotations

import pytest

from tests.publishing.conftest import Engine
from tests.support import loopback


async def test_publishing_loads_the_certificate_authorities_once_not_per_post(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading the CA bundle took ~60 ms of CPU per adapter client, which is one per publish:
    # on two cores it capped a worker at about fifteen posts a second.
    posts = [await engine.publish_now("twitter", "linkedin", content=f"Post {n}") for n in range(3)]
    with monkeypatch.context() as patched:
        loads = loopback.count_ca_loads(patched)
        await engine.tick()
    for post in posts:
        assert (await engine.read(post["id"]))["status"] == "published"
    assert len(engine.published_at_network("twitter")) == 3
    assert len(loads) <= 1, loads
