"""Credits charged once, on success; the month's quota and the plan's models enforced; who may
use AI; posts written with AI keep the model and tokens."""

from __future__ import annotations

import uuid
from typing import Any

from tests.ai.conftest import Studio
from tests.support.accounts import register

HASHTAGS = {"content": "Fresh roast", "platform": "instagram", "count": 3}


async def test_credits_are_charged_once_after_success_and_recorded(studio: Studio) -> None:
    first = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "linkedin", "variants": 5},
    )
    second = await studio.post("/suggest-hashtags", HASHTAGS)
    assert first.status_code == second.status_code == 200
    charged = first.json()["usage"]["credits"] + second.json()["usage"]["credits"]
    assert await studio.credits_used() == charged
    calls = await studio.calls()
    assert [(c.kind, c.outcome) for c in calls] == [
        ("generate_content", "ok"),
        ("suggest_hashtags", "ok"),
    ]
    generated = calls[0]
    usage = first.json()["usage"]
    assert (
        generated.credits
        == usage["credits"]
        == -(-(usage["prompt_tokens"] + usage["completion_tokens"]) // 1000)
    )
    assert generated.model == "openai/gpt-4o-mini"
    assert generated.cost_usd_micros is not None
    assert generated.cost_usd_micros > 0
    assert generated.latency_ms >= 0
    assert generated.user_id == studio.owner.user_id
    assert str(generated.brand_id) == studio.brand_id
    assert calls[1].brand_id is None  # charged to the personal organization
    assert calls[1].organization_id == studio.organization_id


async def test_the_monthly_credits_are_enforced_at_the_boundary(studio: Studio) -> None:
    await studio.use_credits(49)  # Free: 50
    last = await studio.post("/suggest-hashtags", HASHTAGS)
    assert last.status_code == 200, last.text
    assert await studio.credits_used() == 49 + last.json()["usage"]["credits"]
    refused = await studio.post("/suggest-hashtags", HASHTAGS)
    assert refused.status_code == 402
    problem = refused.json()
    assert (problem["code"], problem["limit"], problem["tier"]) == (
        "quota_exceeded",
        "ai_credits",
        "free",
    )
    assert problem["used"] >= 50
    assert len(studio.received()) == 1  # the refused call never reached the model
    assert len(await studio.calls()) == 1


async def test_a_free_organization_uses_the_small_models_only(studio: Studio) -> None:
    paid = await studio.post(
        "/improve-content", {"content": "hi", "platform": "twitter", "model": "openai/gpt-4o"}
    )
    assert paid.status_code == 402
    problem = paid.json()
    assert problem["code"] == "plan_required"
    assert problem["model"] == "openai/gpt-4o"
    assert "openai/gpt-4o-mini" in problem["allowed_models"]
    small = await studio.post(
        "/improve-content",
        {"content": "hi", "platform": "twitter", "model": "google/gemini-2.0-flash-001"},
    )
    assert small.status_code == 200, small.text
    assert small.json()["model"] == "google/gemini-2.0-flash-001"
    assert [r["body"]["model"] for r in studio.received()] == ["google/gemini-2.0-flash-001"]


async def test_a_paid_organization_picks_any_model_the_server_allows(
    app_factory: Any, sandbox: str
) -> None:
    from tests.ai.conftest import start_studio

    app = app_factory(sandbox_url=sandbox, ai_models="openai/gpt-4o")
    async for studio in start_studio(app, sandbox):
        await studio.set_tier("pro")
        body = {"content": "hi", "platform": "twitter", "model": "openai/gpt-4o"}
        answer = await studio.post("/improve-content", body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "openai/gpt-4o"
        other = await studio.post("/improve-content", body | {"model": "anthropic/claude-sonnet-4"})
        assert other.status_code == 422
        assert other.json()["errors"][0]["loc"] == ["body", "model"]
        [call] = await studio.calls()
        assert call.model == "openai/gpt-4o"


async def test_viewers_cant_use_ai_and_member_keys_can(studio: Studio) -> None:
    viewer = await studio.api_key("viewer")
    refused = await studio.post("/suggest-hashtags", HASHTAGS, headers=viewer)
    assert refused.status_code == 403
    refused = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "x", "platform": "twitter"},
        headers=viewer,
    )
    assert refused.status_code == 403
    member = await studio.api_key("member")
    allowed = await studio.post("/suggest-hashtags", HASHTAGS, headers=member)
    assert allowed.status_code == 200, allowed.text
    [call] = await studio.calls()
    assert call.user_id is None
    assert call.api_key_id is not None
    assert len(studio.received()) == 1


async def test_another_tenants_brand_or_organization_is_not_found(studio: Studio) -> None:
    stranger = await register(studio.api)
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "x", "platform": "twitter"},
        account=stranger,
    )
    assert answer.status_code == 404
    answer = await studio.post(
        "/suggest-hashtags",
        HASHTAGS | {"organization_id": str(studio.organization_id)},
        account=stranger,
    )
    assert answer.status_code == 404
    assert studio.received() == []


async def test_a_post_written_with_ai_records_the_model_and_tokens(studio: Studio) -> None:
    generated = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "twitter"},
    )
    body = generated.json()
    post = await studio.api.post(
        "/api/v1/posts",
        json={
            "brand_id": studio.brand_id,
            "content": body["variants"][0]["content"],
            "targets": [],
            "ai_call_id": body["id"],
        },
        headers=studio.owner.headers,
    )
    assert post.status_code == 201, post.text
    assert post.json()["ai"] == {
        "model": body["model"],
        "prompt_tokens": body["usage"]["prompt_tokens"],
        "completion_tokens": body["usage"]["completion_tokens"],
    }
    plain = await studio.api.post(
        "/api/v1/posts",
        json={"brand_id": studio.brand_id, "content": "by hand", "targets": []},
        headers=studio.owner.headers,
    )
    assert plain.json()["ai"] is None


async def test_a_post_cant_claim_a_failed_or_foreign_ai_call(studio: Studio) -> None:
    studio.fake("/faults", {"status": 502, "count": 2})
    failed = await studio.post("/suggest-hashtags", HASHTAGS)
    assert failed.status_code == 502
    [failed_call] = await studio.calls()
    stranger = await register(studio.api)
    theirs = await studio.post("/suggest-hashtags", HASHTAGS, account=stranger)
    assert theirs.status_code == 200
    for call_id in (str(failed_call.id), theirs.json()["id"], str(uuid.uuid4())):
        post = await studio.api.post(
            "/api/v1/posts",
            json={
                "brand_id": studio.brand_id,
                "content": "x",
                "targets": [],
                "ai_call_id": call_id,
            },
            headers=studio.owner.headers,
        )
        assert post.status_code == 422, post.text
        assert post.json()["errors"][0]["loc"] == ["body", "ai_call_id"]


async def test_an_idempotency_key_replays_the_answer_without_asking_or_charging_again(
    studio: Studio,
) -> None:
    key = {"Idempotency-Key": "ai-1"}
    first = await studio.post("/suggest-hashtags", HASHTAGS, headers=key)
    again = await studio.post("/suggest-hashtags", HASHTAGS, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(studio.received()) == 1
    assert await studio.credits_used() == first.json()["usage"]["credits"]
