"""The replay harness itself: the documented request gets the documented answer; a request unlike
the reference is refused (418) and reported by `check()`, naming what differed."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.platforms.conformance.harness import (
    ABSENT,
    ANY,
    Exchange,
    Expect,
    OneOf,
    Reply,
    replay,
)

SOURCE = "https://example.test/reference"

CREATE = Exchange(
    name="create a thing",
    source=SOURCE,
    expect=Expect(
        "POST",
        "/v1/{user}/things",
        query={"mode": "fast", "page": ANY, "debug": ABSENT},
        json={"name": "thing", "tags": ["a"], "public": OneOf(("true", True))},
        headers={"X-Version": "2", "Authorization": re.compile(r"Bearer \S+"), "X-Debug": ABSENT},
        extra=frozenset({"fields"}),  # as if documented on another page
    ),
    reply=Reply(
        status=201,
        body={"id": "7", "url": "{base}/v1/things/7"},
        headers={"Location": "{base}/v1/things/7"},
    ),
)
GOOD_QUERY = {"mode": "fast", "page": "3"}
GOOD_BODY: dict[str, Any] = {"name": "thing", "tags": ["a"], "public": True}
GOOD_HEADERS = {"X-Version": "2", "Authorization": "Bearer abc"}

FORM = Exchange(
    name="refresh a token",
    source=SOURCE,
    expect=Expect(
        "POST",
        "/oauth/token",
        form={"grant_type": "refresh_token", "refresh_token": "r1"},
        exact=True,
    ),
    reply=Reply(body={"access_token": "t2"}),
)
EXACT = Exchange(
    name="an exact body",
    source=SOURCE,
    expect=Expect("PUT", "/v1/settings", json={"a": {"b": 1}}, exact=True),
)
RAW = Exchange(
    name="upload bytes",
    source=SOURCE,
    expect=Expect("PUT", "/upload/1", body=b"\x89PNG"),
    reply=Reply(status=201),
)


def test_the_documented_request_gets_the_documented_answer_with_the_replays_address() -> None:
    with replay(CREATE, FORM, RAW) as network:
        created = httpx.post(
            f"{network.url}/v1/42/things",
            params=GOOD_QUERY | {"fields": "id"},
            json=GOOD_BODY | {"public": "true"},
            headers=GOOD_HEADERS,
        )
        refreshed = httpx.post(
            f"{network.url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "r1"},
        )
        uploaded = httpx.put(f"{network.url}/upload/1", content=b"\x89PNG")
    network.check()
    assert created.status_code == 201
    assert created.json() == {"id": "7", "url": f"{network.url}/v1/things/7"}
    assert created.headers["location"] == f"{network.url}/v1/things/7"
    assert refreshed.json() == {"access_token": "t2"}
    assert (uploaded.status_code, uploaded.content) == (201, b"")
    assert [seen.path for seen in network.seen] == ["/v1/42/things", "/oauth/token", "/upload/1"]
    assert network.seen[2].body == b"\x89PNG"


def _create(
    url: str,
    *,
    method: str = "POST",
    path: str = "/v1/42/things",
    query: Any = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.request(
        method,
        f"{url}{path}",
        params=GOOD_QUERY if query is None else query,
        json=GOOD_BODY if body is None and form is None else body,
        data=form,
        headers=GOOD_HEADERS if headers is None else headers,
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"method": "PUT"}, "method PUT, the reference shows POST"),
        ({"path": "/v1/42/x/things"}, "path /v1/42/x/things, the reference shows /v1/{user}/"),
        ({"query": {"mode": "slow", "page": "1"}}, "query.mode is 'slow', the reference shows"),
        ({"query": {"page": "1"}}, "query.mode is missing"),
        ({"query": GOOD_QUERY | {"debug": "1"}}, "query.debug is sent, the reference has no"),
        ({"query": GOOD_QUERY | {"verbose": "1"}}, "query.verbose is sent, the reference example"),
        ({"query": [("mode", "fast"), ("page", "1"), ("page", "2")]}, "query repeats a parameter"),
        ({"body": {"name": "thing", "public": True}}, "json.tags is missing"),
        ({"body": GOOD_BODY | {"tags": ["a", "b"]}}, "json.tags has 2 items, the reference"),
        ({"body": GOOD_BODY | {"public": "yes"}}, "json.public is 'yes', the reference shows one"),
        ({"body": GOOD_BODY | {"extra": 1}}, "json.extra is sent, the reference example has no"),
        ({"body": ["thing"]}, "the JSON body is not an object"),
        ({"form": {"name": "thing"}}, "body is application/x-www-form-urlencoded, the reference"),
        ({"headers": {"Authorization": "Bearer abc"}}, "header.x-version is missing"),
        ({"headers": GOOD_HEADERS | {"X-Debug": "1"}}, "header.x-debug is sent, the reference"),
        ({"headers": GOOD_HEADERS | {"X-Version": "3"}}, "header.x-version is '3', the reference"),
        ({"headers": GOOD_HEADERS | {"Authorization": "Basic a"}}, "header.authorization is 'Bas"),
    ],
)  # fmt: skip
def test_a_request_unlike_the_reference_is_refused_and_reported(
    change: dict[str, Any], problem: str
) -> None:
    with replay(CREATE) as network:
        answer = _create(network.url, **change)
    assert answer.status_code == 418
    assert problem in answer.text
    with pytest.raises(AssertionError, match=re.escape(f"create a thing: {problem}")):
        network.check()


def test_parameters_moved_from_the_query_to_a_json_body_are_refused() -> None:
    with replay(FORM) as network:
        answer = httpx.post(
            f"{network.url}/oauth/token",
            params={"grant_type": "refresh_token"},
            json={"grant_type": "refresh_token", "refresh_token": "r1"},
        )
    assert answer.status_code == 418
    problems = "\n".join(network.problems)
    assert "body is application/json, the reference sends a form" in problems
    assert "form.grant_type is missing" in problems
    assert "query has fields the reference doesn't show: ['grant_type']" in problems


def test_exact_refuses_a_field_the_reference_does_not_show_at_any_depth() -> None:
    with replay(EXACT) as network:
        answer = httpx.put(f"{network.url}/v1/settings", json={"a": {"b": 1, "c": 2}})
    assert answer.status_code == 418
    with pytest.raises(AssertionError, match=re.escape("json.a has fields the reference doesn't")):
        network.check()


def test_a_raw_body_must_be_the_references_bytes_and_no_body_means_none() -> None:
    with replay(RAW, FORM) as network:
        wrong = httpx.put(f"{network.url}/upload/1", content=b"GIF8")
        empty = httpx.post(f"{network.url}/oauth/token")
    assert (wrong.status_code, empty.status_code) == (418, 418)
    problems = "\n".join(network.problems)
    assert "upload bytes: the body is 4 bytes unlike the reference's" in problems
    assert "refresh a token: body is empty, the reference sends a form" in problems
    with replay(Exchange("read", SOURCE, Expect("GET", "/v1/me"))) as network:
        httpx.request("GET", f"{network.url}/v1/me", content=b"x")
    assert "read: a body (untyped) where the reference sends none" in "\n".join(network.problems)


def test_a_request_too_many_and_an_exchange_never_sent_fail_the_check() -> None:
    with replay(RAW) as network:
        httpx.put(f"{network.url}/upload/1", content=b"\x89PNG")
        extra = httpx.get(f"{network.url}/v1/things/7")
    assert extra.status_code == 418
    with pytest.raises(AssertionError, match="unexpected request GET /v1/things/7"):
        network.check()
    with replay(RAW, FORM) as network:
        httpx.put(f"{network.url}/upload/1", content=b"\x89PNG")
    with pytest.raises(AssertionError, match=re.escape("never sent: ['refresh a token']")):
        network.check()


def test_an_adapter_that_gives_up_on_a_refusal_fails_with_what_differed() -> None:
    refused = pytest.raises(AssertionError, match="create a thing: method PUT")
    with refused as failed, replay(CREATE) as network:
        _create(network.url, method="PUT").raise_for_status()
    assert isinstance(failed.value.__cause__, httpx.HTTPStatusError)
