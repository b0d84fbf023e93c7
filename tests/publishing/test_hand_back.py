"""A publish job that finds its worker's attempts all taken, with other jobs already waiting for
room, doesn't wait in the job consumer (where it would hold a slot reconciliations and webhook
deliveries need): it hands its targets back to the broker, and they go out once there is room."""

from __future__ import annotations

import asyncio

import pytest

from t21.publishing.service import batch
from tests.publishing.conftest import Engine


async def test_a_publish_job_finding_the_worker_full_hands_its_targets_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "WAITING_JOBS_MAX", 0)
    monkeypatch.setattr(batch, "HAND_BACK_PAUSE_S", 0.02)
    slots = batch._attempt_slots(engine.world.runtime)
    assert await slots.take_unless_crowded(slots.size, 0)  # every attempt of the worker busy
    post = await engine.publish_now("twitter", content="Waiting for room")
    await engine.loops.run_once("publishing.dispatch")
    await asyncio.sleep(0.3)  # the job has come and been handed back several times by now
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "queued"
    assert slots.waiting == 0
    await slots.give(slots.size)
    await engine.world.drain()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "published"
    assert engine.sends("twitter", "Waiting for room") == ["accepted"]
