"""The month's AI credits at each tier's boundary, and concurrent calls never losing a charge."""

from __future__ import annotations

import asyncio

import pytest

from tests.ai.conftest import Studio

HASHTAGS = {"content": "Fresh roast", "platform": "instagram", "count": 3}
CREDITS = {"free": 50, "pro": 1_000, "business": 10_000}


@pytest.mark.parametrize("tier", sorted(CREDITS))
async def test_each_tiers_credits_hold_at_the_boundary(studio: Studio, tier: str) -> None:
    await studio.set_tier(tier)
    await studio.use_credits(CREDITS[tier] - 1)
    last = await studio.post("/suggest-hashtags", HASHTAGS)
    assert last.status_code == 200, last.text
    refused = await studio.post("/suggest-hashtags", HASHTAGS)
    assert refused.status_code == 402
    problem = refused.json()
    assert (problem["code"], problem["limit"], problem["tier"]) == (
        "quota_exceeded",
        "ai_credits",
        tier,
    )
    assert problem["allowed"] == CREDITS[tier]


@pytest.mark.postgres
async def test_concurrent_calls_each_charge_their_credits(studio: Studio) -> None:
    await studio.set_tier("business")
    answers = await asyncio.gather(*(studio.post("/suggest-hashtags", HASHTAGS) for _ in range(12)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    charged = sum(answer.json()["usage"]["credits"] for answer in answers)
    assert await studio.credits_used() == charged
    assert sum(call.credits for call in await studio.calls()) == charged
