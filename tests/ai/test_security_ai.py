"""Hanging up on a streamed answer is no way to get AI for free."""

from __future__ import annotations

import asyncio
import json

import pytest

from t21.ai.models import AiCall
from tests.ai.conftest import Studio

FREE_CREDITS = 50


async def _settled(studio: Studio, count: int) -> list[AiCall]:
    """The calls once `count` of them are recorded (a hang-up is recorded as the stream ends)."""
    calls: list[AiCall] = []
    for _ in range(100):
        calls = await studio.calls()
        if len(calls) >= count:
            break
        await asyncio.sleep(0.02)
    return calls


async def test_repeated_hang_ups_use_up_a_free_organizations_credits_then_402(
    studio: Studio,
) -> None:
    studio.fake("/settings", {"chunk_size": 3, "chunk_delay_s": 0.02})
    await studio.use_credits(FREE_CREDITS - 3)
    body = {"brand_id": studio.brand_id, "prompt": "Cold brew is back", "platform": "twitter"}
    hang_ups = 0
    for _ in range(5):
        answer = await studio.stream("/generate-content", body, leave_after=2)
        if answer.status == 402:
            problem = json.loads(b"".join(answer.chunks))
            assert (problem["code"], problem["limit"]) == ("quota_exceeded", "ai_credits")
            break
        assert answer.status == 200
        assert [event.name for event in answer.events] == ["token", "token"]
        hang_ups += 1
        calls = await _settled(studio, hang_ups)
        assert calls[-1].outcome == "cancelled"
        assert calls[-1].credits >= 1
    else:
        raise AssertionError("hanging up kept the AI free past the plan's credits")
    assert 1 <= hang_ups <= 3
    calls = await studio.calls()
    assert len(calls) == hang_ups
    charged = sum(call.credits for call in calls)
    assert await studio.credits_used() == FREE_CREDITS - 3 + charged
    assert await studio.credits_used() >= FREE_CREDITS


async def test_hang_ups_started_together_cant_all_take_the_last_credits(studio: Studio) -> None:
    studio.fake("/settings", {"chunk_size": 3, "chunk_delay_s": 0.02})
    await studio.use_credits(FREE_CREDITS - 3)
    body = {"brand_id": studio.brand_id, "prompt": "Cold brew is back", "platform": "twitter"}
    answers = await asyncio.gather(
        *(studio.stream("/generate-content", body, leave_after=2) for _ in range(6))
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200, 200, 200, 402, 402, 402]
    calls = await _settled(studio, 3)
    assert [(call.outcome, call.credits) for call in calls] == [("cancelled", 1)] * 3
    assert await studio.credits_used() == FREE_CREDITS


async def test_a_plain_call_cut_off_while_the_model_writes_is_recorded_and_charged(
    studio: Studio,
) -> None:
    studio.fake("/faults", {"status": 200, "delay_s": 0.8})
    body = {"content": "Fresh roast", "platform": "instagram", "count": 3}
    task = asyncio.create_task(studio.post("/suggest-hashtags", body))
    for _ in range(200):
        if studio.received():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [call] = await _settled(studio, 1)
    assert (call.outcome, call.credits) == ("cancelled", 1)
    assert await studio.credits_used() == 1
