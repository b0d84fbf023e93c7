"""Every way OpenRouter fails maps to the contract's status, is recorded, and costs nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ai.conftest import Studio, start_studio

FAILURES = [
    pytest.param({"status": 402}, 503, "unavailable", None, id="402-out-of-credits"),
    pytest.param({"status": 401}, 503, "unavailable", None, id="401-bad-key"),
    pytest.param({"status": 429, "retry_after": 30}, 429, "rate_limited", "30", id="429"),
    pytest.param({"status": 502, "count": 2}, 502, "upstream_error", None, id="502-twice"),
    pytest.param({"status": 500, "count": 2}, 502, "upstream_error", None, id="500-twice"),
    pytest.param({"status": 503, "retry_after": 20}, 503, "unavailable", "20", id="503"),
    pytest.param({"status": 408, "count": 2}, 504, "upstream_timeout", None, id="408-twice"),
    pytest.param(
        {"status": 200, "delay_s": 2.5, "count": 2}, 504, "upstream_timeout", None, id="timeout"
    ),
    pytest.param({"status": 502, "in_body": True}, 502, "upstream_error", None, id="error-in-200"),
    pytest.param({"status": 400}, 502, "upstream_error", None, id="400"),
    pytest.param(
        {"status": 403, "metadata": {"reasons": ["violence"]}},
        422,
        "validation_error",
        None,
        id="403-moderation",
    ),
]


@pytest.mark.parametrize(("fault", "status", "code", "retry_after"), FAILURES)
async def test_a_failed_call_maps_to_the_contract_and_charges_nothing(
    studio: Studio, fault: dict[str, Any], status: int, code: str, retry_after: str | None
) -> None:
    studio.fake("/faults", fault)
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "twitter"},
    )
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "Nothing was charged" in problem["detail"]
    if retry_after is not None:
        assert answer.headers["retry-after"] == retry_after
    assert await studio.credits_used() == 0
    [call] = await studio.calls()
    assert (call.outcome, call.credits, call.kind) == (code, 0, "generate_content")
    assert call.organization_id == studio.organization_id
    assert call.user_id == studio.owner.user_id
    assert str(call.brand_id) == studio.brand_id


async def test_a_long_wait_asked_by_a_429_is_passed_on_not_slept_through(
    studio: Studio,
) -> None:
    studio.fake("/faults", {"status": 429, "retry_after": 30})
    answer = await studio.post("/suggest-hashtags", {"content": "x", "platform": "tiktok"})
    assert answer.status_code == 429
    assert len(studio.received()) == 1


async def test_one_transient_failure_is_retried_and_the_call_charged_once(studio: Studio) -> None:
    studio.fake("/faults", {"status": 502})
    answer = await studio.post("/improve-content", {"content": "hello", "platform": "twitter"})
    assert answer.status_code == 200, answer.text
    assert len(studio.received()) == 2
    [call] = await studio.calls()
    assert call.outcome == "ok"
    assert await studio.credits_used() == answer.json()["usage"]["credits"] == call.credits


async def test_an_error_in_the_middle_of_a_stream_ends_it_with_an_error_event(
    studio: Studio,
) -> None:
    studio.fake("/settings", {"chunk_size": 4})
    studio.fake("/faults", {"status": 502, "in_stream": True, "after_chunks": 3})
    answer = await studio.stream(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "instagram"},
    )
    assert answer.status == 200
    names = [event.name for event in answer.events]
    assert names == ["token", "token", "token", "error"]
    error = answer.events[-1].data
    assert (error["status"], error["code"]) == (502, "upstream_error")
    assert "Nothing was charged" in error["detail"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert await studio.credits_used() == 0
    [call] = await studio.calls()
    assert (call.outcome, call.credits) == ("upstream_error", 0)


async def test_a_stream_refused_at_once_is_an_http_error_not_an_event(studio: Studio) -> None:
    studio.fake("/faults", {"status": 402})
    answer = await studio.stream("/improve-content", {"content": "hi", "platform": "twitter"})
    assert answer.status == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    [call] = await studio.calls()
    assert (call.outcome, call.credits) == ("unavailable", 0)
    assert await studio.credits_used() == 0


async def test_an_answer_with_nothing_usable_is_a_502_and_free(studio: Studio) -> None:
    studio.fake("/replies", {"content": '{"variants": []}'})
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "twitter"},
    )
    assert answer.status_code == 502
    [call] = await studio.calls()
    assert call.outcome == "upstream_error"
    assert call.completion_tokens > 0  # what the model used is kept, though not charged
    assert await studio.credits_used() == 0


async def test_without_a_key_or_the_sandbox_ai_is_unavailable(
    app_factory: Any, sandbox: str
) -> None:
    app = app_factory(sandbox_url=sandbox, sandbox="off")
    async for studio in start_studio(app, sandbox):
        answer = await studio.post("/improve-content", {"content": "hi", "platform": "twitter"})
        assert answer.status_code == 503
        assert "T21_OPENROUTER_API_KEY" in answer.json()["detail"]
        assert studio.received() == []
        assert await studio.calls() == []


async def test_with_a_key_the_client_talks_to_the_configured_base_with_it(
    app_factory: Any, sandbox: str
) -> None:
    app = app_factory(
        sandbox_url=sandbox,
        sandbox="off",
        openrouter_api_key="sk-or-v1-real",
        openrouter_api_base=f"{sandbox}/openrouter/api/v1/",
    )
    async for studio in start_studio(app, sandbox):
        answer = await studio.post("/improve-content", {"content": "hi", "platform": "twitter"})
        assert answer.status_code == 200, answer.text
        assert len(studio.received()) == 1
