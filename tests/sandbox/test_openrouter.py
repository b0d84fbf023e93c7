"""The fake OpenRouter on the wire, as OpenRouter answers (PLATFORMS.md §10)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from t21.core.tls import tls_context
from t21.sandbox.openrouter import OpenRouterState, create_openrouter_app
from t21.sandbox.server import ThreadedServer

KEY = {"Authorization": "Bearer sk-or-v1-test"}
ASK = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Spring menu"}]}


@pytest.fixture
def openrouter() -> Iterator[httpx.Client]:
    with (
        ThreadedServer(create_openrouter_app(OpenRouterState())) as server,
        httpx.Client(verify=tls_context(), base_url=server.url, timeout=10) as client,
    ):
        yield client


def test_a_completion_carries_usage_cost_and_its_generation_id(openrouter: httpx.Client) -> None:
    answer = openrouter.post("/api/v1/chat/completions", json=ASK, headers=KEY)
    assert answer.status_code == 200
    body = answer.json()
    assert body["choices"][0]["message"]["content"] == "Sandbox take 1: Spring menu."
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0
    generation = answer.headers["x-generation-id"]
    stats = openrouter.get(f"/api/v1/generation?id={generation}").json()["data"]
    assert stats["tokens_completion"] == usage["completion_tokens"]
    assert {m["id"] for m in openrouter.get("/api/v1/models").json()["data"]} >= {ASK["model"]}


def test_without_a_key_or_with_a_bad_model_it_answers_its_error_envelope(
    openrouter: httpx.Client,
) -> None:
    unauthenticated = openrouter.post("/api/v1/chat/completions", json=ASK)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == 401
    bad = openrouter.post("/api/v1/chat/completions", json=ASK | {"model": "nope"}, headers=KEY)
    assert bad.status_code == 400
    assert bad.json() == {"error": {"code": 400, "message": "nope is not a valid model ID"}}


def test_a_stream_has_keep_alives_deltas_usage_last_and_done(openrouter: httpx.Client) -> None:
    raw = openrouter.post("/api/v1/chat/completions", json=ASK | {"stream": True}, headers=KEY).text
    lines = [line for line in raw.split("\n") if line]
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Sandbox take 1: Spring menu."
    assert "usage" in chunks[-1]
    assert all("usage" not in chunk for chunk in chunks[:-1])


def test_faults_are_injected_as_openrouter_sends_them(openrouter: httpx.Client) -> None:
    openrouter.post("/_control/faults", json={"status": 429, "retry_after": 7})
    limited = openrouter.post("/api/v1/chat/completions", json=ASK, headers=KEY)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert limited.json()["error"]["code"] == 429
    openrouter.post("/_control/faults", json={"status": 502, "in_stream": True, "after_chunks": 1})
    raw = openrouter.post("/api/v1/chat/completions", json=ASK | {"stream": True}, headers=KEY).text
    last = json.loads([line for line in raw.split("\n") if line.startswith("data: ")][-1][6:])
    assert last["error"]["code"] == 502
    assert last["choices"][0]["finish_reason"] == "error"
    received = openrouter.get("/_control/requests").json()["requests"]
    assert len(received) == 2
    assert "authorization" not in json.dumps(received).lower()
