"""The replay harness itself: a request unlike the reference is refused and reported."""

from __future__ import annotations

import httpx
import pytest

from tests.platforms.conformance.harness import ABSENT, ANY, Exchange, replay

EXAMPLE = Exchange(
    name="an example",
    source="https://example.com/reference",
    method="POST",
    path="/v1/things",
    query={"mode": "fast", "page": ANY, "debug": ABSENT},
    headers={"X-Version": "2"},
    body_kind="json",
    body={"name": "thing", "tags": ["a"]},
    status=201,
    response={"id": "7", "url": "{base}/v1/things/7"},
)


async def test_a_conforming_request_gets_the_documented_answer_with_the_replays_address() -> None:
    with replay([EXAMPLE]) as served:
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{served.url}/v1/things?mode=fast&page=3",
                headers={"X-Version": "2"},
                json={"name": "thing", "tags": ["a"], "extra": True},
            )
    served.check()
    assert answer.status_code == 201
    assert answer.json() == {"id": "7", "url": f"{served.url}/v1/things/7"}


@pytest.mark.parametrize(
    ("query", "headers", "body", "problem"),
    [
        ("mode=slow&page=1", {"X-Version": "2"}, {"name": "thing", "tags": ["a"]}, "query.mode"),
        ("mode=fast&page=1&debug=1", {"X-Version": "2"}, {"name": "thing", "tags": ["a"]},
         "query.debug"),
        ("mode=fast&page=1", {}, {"name": "thing", "tags": ["a"]}, "header.x-version"),
        ("mode=fast&page=1", {"X-Version": "2"}, {"name": "thing"}, "body.tags"),
        ("mode=fast&page=1", {"X-Version": "2"}, {"name": "thing", "tags": ["a", "b"]},
         "body.tags has 2 items"),
    ],
)  # fmt: skip
async def test_a_request_unlike_the_reference_is_refused_and_reported(
    query: str, headers: dict[str, str], body: dict[str, object], problem: str
) -> None:
    with replay([EXAMPLE]) as served:
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{served.url}/v1/things?{query}", headers=headers, json=body)
    assert answer.status_code == 599
    with pytest.raises(AssertionError, match=problem.replace(".", r"\.")):
        served.check()


async def test_an_exchange_never_sent_fails_the_check() -> None:
    with replay([EXAMPLE]) as served:
        pass
    with pytest.raises(AssertionError, match="never sent"):
        served.check()
