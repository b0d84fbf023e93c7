"""Each AI endpoint end to end: the API in-process, OpenRouter's fake over HTTP."""

from __future__ import annotations

import json
from typing import Any

from t21.platforms.text import x_weighted_length
from tests.ai.conftest import Studio

LONG_WORDS = " ".join(f"word{n}" for n in range(200))  # about 1,300 characters


async def test_generate_content_gives_the_variants_asked_for_within_the_platform_limit(
    studio: Studio,
) -> None:
    answer = await studio.post(
        "/generate-content",
        {
            "brand_id": studio.brand_id,
            "prompt": "Our new Ethiopian single origin arrives on Friday",
            "platform": "twitter",
            "tone": "playful",
            "variants": 3,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["variants"]) == 3
    for variant in body["variants"]:
        assert variant["content"]
        assert x_weighted_length(variant["content"]) <= 280
        assert all(tag.startswith("#") and " " not in tag for tag in variant["hashtags"])
    assert body["model"] == "openai/gpt-4o-mini"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["credits"] == max(
        1, -(-(usage["prompt_tokens"] + usage["completion_tokens"]) // 1000)
    )
    assert body["id"]

    [request] = studio.received()
    assert request["x_title"] == "T21"
    assert request["http_referer"]
    sent = request["body"]
    assert sent["model"] == "openai/gpt-4o-mini"
    assert sent["response_format"]["type"] == "json_schema"
    variants_schema = sent["response_format"]["json_schema"]["schema"]["properties"]["variants"]
    assert variants_schema["minItems"] == variants_schema["maxItems"] == 3
    assert sent["usage"] == {"include": True}
    system, user = sent["messages"]
    for fact in (
        "Bean There",
        "A neighbourhood coffee roaster in Leeds.",
        "Warm, witty, never salesy.",
        "Coffee lovers in their twenties and thirties.",
        "Food and drink",
        "single origin, roastery",
        "#BeanThere #LeedsCoffee",
        "at most 280 characters as X counts them",
        "short and punchy",
    ):
        assert fact in system["content"], fact
    assert "Our new Ethiopian single origin arrives on Friday" in user["content"]
    assert "Tone: playful" in user["content"]


async def test_each_platform_gets_its_own_norms_and_limit(studio: Studio) -> None:
    # The length to aim at: a good post's length at the network, under 90% of its limit.
    for platform, norm, limit, aim in (
        ("linkedin", "professional", 3000, 1300),
        ("instagram", "Instagram caption", 2200, 1000),
        ("tiktok", "TikTok caption", 2200, 300),
        ("facebook", "conversational", 63206, 500),
        ("twitter", "short and punchy", 280, 252),
    ):
        studio.fake("/reset")
        answer = await studio.post(
            "/generate-content",
            {"brand_id": studio.brand_id, "prompt": "Open day", "platform": platform},
        )
        assert answer.status_code == 200, answer.text
        system = studio.received()[0]["body"]["messages"][0]["content"]
        assert norm in system
        assert f"at most {limit} characters" in system
        assert f"aim for at most {aim}." in system


async def test_an_over_long_answer_is_asked_for_again_shorter(studio: Studio) -> None:
    studio.fake("/replies", {"content": {"variants": [{"content": LONG_WORDS, "hashtags": []}]}})
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "twitter"},
    )
    assert answer.status_code == 200, answer.text
    [variant] = answer.json()["variants"]
    assert x_weighted_length(variant["content"]) <= 280
    assert variant["content"].startswith("Sandbox take")  # the fake's shortened text
    _first, again = studio.received()
    assert "over the limit of 280" in again["body"]["messages"][1]["content"]
    assert LONG_WORDS in again["body"]["messages"][1]["content"]
    usage = answer.json()["usage"]
    [call] = await studio.calls()
    assert (call.prompt_tokens, call.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert call.prompt_tokens > len(LONG_WORDS) // 4  # both requests are counted


async def test_an_answer_still_too_long_is_trimmed_on_a_word_boundary(studio: Studio) -> None:
    studio.fake(
        "/replies", {"content": {"variants": [{"content": LONG_WORDS, "hashtags": ["#a"]}]}}
    )
    studio.fake("/replies", {"content": {"texts": [LONG_WORDS]}})
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "twitter"},
    )
    assert answer.status_code == 200, answer.text
    [variant] = answer.json()["variants"]
    content = variant["content"]
    assert content.endswith("…")
    assert LONG_WORDS.startswith(content.removesuffix("…"))
    assert LONG_WORDS[len(content) - 1] == " "  # cut between words
    assert 270 <= x_weighted_length(content) <= 280
    # Its hashtag no longer fits after the text.
    assert variant["hashtags"] == []
    assert len(studio.received()) == 2


async def test_answers_in_fences_or_prose_are_still_read_as_data(studio: Studio) -> None:
    fenced = {"variants": [{"content": "Fresh beans, fresh start.", "hashtags": ["coffee"]}]}
    studio.fake("/replies", {"content": f"Sure! Here you go:\n```json\n{json.dumps(fenced)},\n```"})
    answer = await studio.post(
        "/generate-content",
        {"brand_id": studio.brand_id, "prompt": "Roast day", "platform": "linkedin"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["variants"] == [
        {"content": "Fresh beans, fresh start.", "hashtags": ["#coffee"]}
    ]


async def test_suggested_hashtags_are_normalised_and_as_many_as_asked(studio: Studio) -> None:
    messy = ["summer vibes", "#Coffee", "coffee", "##latte!", "2024", "#brew", "#Brew", "oat milk"]
    studio.fake("/replies", {"content": {"hashtags": messy}})
    answer = await studio.post(
        "/suggest-hashtags",
        {"content": "Iced latte season is here", "platform": "instagram", "count": 4},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["hashtags"] == ["#summervibes", "#Coffee", "#latte", "#brew"]
    assert body["usage"]["credits"] >= 1
    assert body["model"] == "openai/gpt-4o-mini"

    plenty = await studio.post(
        "/suggest-hashtags",
        {
            "content": "Iced latte season is here with oat milk and cold brew for everyone",
            "platform": "instagram",
            "count": 12,
            "brand_id": studio.brand_id,
        },
    )
    assert plenty.status_code == 200, plenty.text
    tags = plenty.json()["hashtags"]
    assert len(tags) == 12
    assert all(tag.startswith("#") and " " not in tag and len(tag) > 1 for tag in tags)
    assert len({tag.casefold() for tag in tags}) == 12
    schema = studio.received()[-1]["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["hashtags"]["maxItems"] == 12


async def test_improved_content_comes_back_as_plain_text_within_the_limit(studio: Studio) -> None:
    answer = await studio.post(
        "/improve-content",
        {
            "content": "we has new beans come try",
            "platform": "facebook",
            "instructions": "Make it friendlier",
            "brand_id": studio.brand_id,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["content"].startswith("Sandbox take 1:")
    [request] = studio.received()
    assert "response_format" not in request["body"]
    user = request["body"]["messages"][1]["content"]
    assert "Instructions: Make it friendlier" in user
    assert "we has new beans come try" in user

    studio.fake("/replies", {"content": "x " * 1500, "count": 2})
    trimmed = await studio.post("/improve-content", {"content": "short", "platform": "instagram"})
    assert trimmed.status_code == 200, trimmed.text
    assert len(trimmed.json()["content"]) <= 2200
    assert trimmed.json()["content"].endswith("x…")


async def test_requests_are_checked_before_anything_is_asked(studio: Studio) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/generate-content", {"brand_id": studio.brand_id, "prompt": "x", "platform": "myspace"}),
        (
            "/generate-content",
            {"brand_id": studio.brand_id, "prompt": "x", "platform": "twitter", "variants": 6},
        ),
        ("/generate-content", {"brand_id": studio.brand_id, "prompt": "", "platform": "twitter"}),
        ("/suggest-hashtags", {"content": "x", "platform": "twitter", "count": 31}),
        ("/improve-content", {"content": "x", "platform": "twitter", "model": "not a model"}),
    ]
    for path, body in cases:
        answer = await studio.post(path, body)
        assert answer.status_code == 422, (path, body, answer.text)
        assert answer.json()["code"] == "validation_error"
    missing = await studio.post(
        "/generate-content",
        {"brand_id": "0190d5b4-0000-7000-8000-000000000000", "prompt": "x", "platform": "twitter"},
    )
    assert missing.status_code == 404
    assert studio.received() == []
    assert await studio.calls() == []
