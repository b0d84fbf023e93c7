"""The replay refuses what the reference doesn't show: a parameter moved to a JSON body, an
undocumented one, a missing header, a request too many."""

from __future__ import annotations

import httpx

from tests.platforms.conformance._replay import Exchange, Expect, Reply, replay

CREATE = Exchange(
    name="create",
    source="https://example.test/reference",
    expect=Expect("POST", "/v1/{user}/media", query={"image_url": "u", "access_token": "t"}),
    reply=Reply(body={"id": "1"}),
)


def test_the_documented_request_gets_the_documented_answer() -> None:
    with replay(CREATE) as network:
        answer = httpx.post(
            f"{network.url}/v1/42/media", params={"image_url": "u", "access_token": "t"}
        )
    assert answer.json() == {"id": "1"}
    network.assert_replayed()


def test_a_json_body_an_extra_parameter_or_a_request_too_many_is_a_mismatch() -> None:
    with replay(CREATE) as network:
        answer = httpx.post(
            f"{network.url}/v1/42/media", params={"debug": "1"}, json={"image_url": "u"}
        )
        extra = httpx.get(f"{network.url}/v1/42/media")
    assert (answer.status_code, extra.status_code) == (418, 418)
    problems = "\n".join(network.problems)
    assert "`image_url` missing" in problems
    assert "`debug` is not in the reference example" in problems
    assert "body where the reference sends none" in problems
    assert "unexpected request GET /v1/42/media" in problems
