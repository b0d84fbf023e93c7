"""`Accept: text/event-stream`: the model's answer as it arrives, then the result and usage."""

from __future__ import annotations

import asyncio

from t21.platforms.text import x_weighted_length
from tests.ai.conftest import Studio


async def test_generate_content_streams_tokens_as_they_arrive_then_the_result(
    studio: Studio,
) -> None:
    studio.fake("/settings", {"chunk_size": 6})
    answer = await studio.stream(
        "/generate-content",
        {
            "brand_id": studio.brand_id,
            "prompt": "Cold brew is back",
            "platform": "twitter",
            "variants": 2,
        },
    )
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = answer.events
    tokens = [event for event in events if event.name == "token"]
    assert len(tokens) > 10
    # Sent one by one as they came, not gathered: each token event is its own piece of body.
    assert len(answer.chunks) == len(events)
    assert [event.name for event in events] == ["token"] * len(tokens) + ["result"]
    result = events[-1].data
    assert "".join(token.data["text"] for token in tokens).startswith('{"variants"')
    assert len(result["variants"]) == 2
    assert all(x_weighted_length(v["content"]) <= 280 for v in result["variants"])
    assert result["usage"]["completion_tokens"] > 0
    assert result["usage"]["credits"] >= 1
    [request] = studio.received()
    assert request["body"]["stream"] is True
    assert request["body"]["stream_options"] == {"include_usage": True}
    [call] = await studio.calls()
    assert call.outcome == "ok"
    assert str(call.id) == result["id"]
    assert call.completion_tokens == result["usage"]["completion_tokens"]
    assert await studio.credits_used() == result["usage"]["credits"]


async def test_improve_content_streams_readable_text(studio: Studio) -> None:
    answer = await studio.stream(
        "/improve-content",
        {"content": "big sale on beans today only", "platform": "linkedin"},
    )
    assert answer.status == 200
    tokens = [event.data["text"] for event in answer.events if event.name == "token"]
    assert len(tokens) > 2
    [result] = [event.data for event in answer.events if event.name == "result"]
    assert "".join(tokens) == result["content"]
    assert "big sale beans today" in result["content"]
    assert result["usage"]["credits"] >= 1


async def test_a_streamed_answer_over_the_limit_is_fixed_before_the_result(
    studio: Studio,
) -> None:
    studio.fake("/replies", {"content": "lorem " * 100})
    answer = await studio.stream("/improve-content", {"content": "hi", "platform": "twitter"})
    [result] = [event.data for event in answer.events if event.name == "result"]
    assert x_weighted_length(result["content"]) <= 280
    assert len(studio.received()) == 2  # asked once more, shorter


async def test_a_client_leaving_mid_stream_is_recorded_and_charged_for_what_it_got(
    studio: Studio,
) -> None:
    studio.fake("/settings", {"chunk_size": 3, "chunk_delay_s": 0.05})
    answer = await studio.stream(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Cold brew is back", "platform": "twitter"},
        leave_after=3,
    )
    assert answer.status == 200
    assert all(event.name == "token" for event in answer.events)
    for _ in range(40):  # the call is recorded as the stream winds down
        calls = await studio.calls()
        if calls:
            break
        await asyncio.sleep(0.05)
    [call] = calls
    assert (call.outcome, call.credits) == ("cancelled", 1)
    assert call.completion_tokens > 0
    assert await studio.credits_used() == 1
