"""The Google Business Profile adapter against the sandbox's fake over real HTTP: Google OAuth
with offline access, one account per location, local posts of each type with their call to
action and photo, the rules refused before anything is sent (and by the fake too), Google's
quotas and revoked tokens, and a doubtful publish settled by reading the posts back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from t21.core import clock
from t21.core.outside import Ambiguous, NotPermitted, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import Credentials, PlatformConfig, Provider, PublishRequest
from t21.platforms.google_business import GoogleBusinessProvider
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.google_business import create_google_business_app
from t21.sandbox.server import ThreadedServer
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    connect,
    credentials,
    serve,
)
from tests.support import loopback

LOCATION = "accounts/1100000000000000001/locations/2200000000000000001"
SCOPE = "https://www.googleapis.com/auth/business.manage"
EVENT = {"title": "Winter fair", "start": "2026-12-20T10:00:00", "end": "2026-12-20T16:30:00"}


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_google_business_app()) as fake:
        yield fake


@pytest.fixture
def fake(served: FakeNetwork) -> FakeNetwork:
    control(served, "POST", "/reset")
    return served


@pytest.fixture
def gbp(fake: FakeNetwork) -> GoogleBusinessProvider:
    return GoogleBusinessProvider(fake.config("google_business"))


@pytest.fixture
async def location(gbp: GoogleBusinessProvider) -> Credentials:
    [connection] = await connect(gbp)
    return credentials(connection)


def control(fake: FakeNetwork, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = loopback.request(method, f"{fake.url}/_control{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


def kept(fake: FakeNetwork) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = control(fake, "GET", "/posts")["posts"]
    return posts


def second_location(fake: FakeNetwork) -> None:
    control(fake, "POST", "/accounts", {"name": "accounts/900", "account_name": "Acme Group"})
    control(fake, "POST", "/locations", {"id": "3300", "account": "accounts/900",
                                         "title": "Acme Station Road"})  # fmt: skip


# --- the declared surface and connecting -------------------------------------------------------


def test_provider_satisfies_the_protocol_and_lists_locations() -> None:
    provider: Provider = GoogleBusinessProvider(
        FakeNetwork("http://127.0.0.1:9").config("google_business")
    )
    assert provider.name == "google_business"
    assert provider.limits.max_text == 1500
    assert (provider.limits.max_images, provider.limits.max_videos) == (1, 0)
    assert GoogleBusinessProvider.choice_kinds == frozenset({"locations"})


def test_authorization_url_asks_for_business_manage_offline_with_pkce(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    url = gbp.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_verifier="v" * 50)
    assert url.startswith(f"{fake.url}/o/oauth2/v2/auth?")
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == [SCOPE]
    assert (query["access_type"], query["prompt"]) == (["offline"], ["consent"])
    assert query["code_challenge_method"] == ["S256"]


def test_at_google_the_tokens_go_to_oauth2_googleapis() -> None:
    from t21.platforms.google_oauth import token_base

    real = FakeNetwork("x").config("google_business")
    real = replace(real, auth_base="https://accounts.google.com")
    assert token_base(real) == "https://oauth2.googleapis.com"


async def test_connect_gives_one_account_per_location_sharing_a_refreshable_token(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    second_location(fake)
    connections = await connect(gbp)
    by_id = {c.profile.external_id: c for c in connections}
    assert set(by_id) == {LOCATION, "accounts/900/locations/3300"}
    first = by_id[LOCATION]
    assert (first.profile.display_name, first.profile.username) == (
        "Sandbox Bakery",
        "2200000000000000001",
    )
    assert first.capabilities == {"account": "accounts/1100000000000000001"}
    assert len({c.grant.access_token for c in connections}) == 1
    assert first.grant.refresh_token
    assert first.grant.expires_in == 3599
    assert first.grant.scopes == {SCOPE}


async def test_a_google_account_without_locations_cannot_connect(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    control(fake, "DELETE", "/locations/2200000000000000001")
    with pytest.raises(Permanent) as caught:
        await connect(gbp)
    assert caught.value.code == "no_locations"


async def test_a_project_google_has_not_approved_gets_a_quota_of_zero(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    control(fake, "POST", "/settings", {"approved": False})
    with pytest.raises(Retryable) as caught:
        await connect(gbp)
    assert caught.value.code == "rate_limited"
    assert caught.value.after == 60


async def test_refresh_keeps_the_refresh_token_and_a_revoked_grant_needs_the_person(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    grant = await gbp.refresh(location)
    assert grant is not None
    assert grant.access_token != location.access_token
    assert grant.refresh_token is None  # Google keeps the one it gave
    fake.revoke_tokens()
    with pytest.raises(ReauthRequired) as caught:
        await gbp.refresh(location)
    assert caught.value.code == "invalid_grant"


async def test_disconnecting_the_only_location_revokes_the_grant_even_with_an_old_token(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    fake.expire_tokens(location.access_token)
    assert await gbp.revoke(location) is True
    assert not any(token["usable"] for token in fake.tokens())


async def test_a_grant_shared_with_another_location_is_not_revoked(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    second_location(fake)
    connection = next(c for c in await connect(gbp) if c.profile.external_id == LOCATION)
    assert await gbp.revoke(credentials(connection)) is False
    assert all(token["usable"] for token in fake.tokens())


async def test_the_locations_the_sign_in_manages_are_the_accounts_choices(
    gbp: GoogleBusinessProvider, fake: FakeNetwork
) -> None:
    second_location(fake)
    connection = next(c for c in await connect(gbp) if c.profile.external_id == LOCATION)
    choices = await gbp.list_choices(credentials(connection), "locations")
    assert [(c.id, c.name) for c in choices] == [
        (LOCATION, "Sandbox Bakery"),
        ("accounts/900/locations/3300", "Acme Station Road"),
    ]
    profile = await gbp.profile(credentials(connection))
    assert profile.display_name == "Sandbox Bakery"


# --- publishing --------------------------------------------------------------------------------


async def test_a_standard_post_with_a_button_and_a_photo(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials, media: MediaServer
) -> None:
    photo = media.image()
    options = {"call_to_action": {"type": "ORDER", "url": "https://acme.example/order"}}
    published = await gbp.publish(
        location, PublishRequest(text="Fresh bread daily", media=[photo], options=options)
    )
    assert published.external_id.startswith(f"{LOCATION}/localPosts/")
    assert published.permalink is not None
    assert "use=posts" in published.permalink
    assert published.published_at is not None
    [post] = kept(fake)
    assert post["topicType"] == "STANDARD"
    assert post["summary"] == "Fresh bread daily"
    assert post["callToAction"] == {"actionType": "ORDER", "url": "https://acme.example/order"}
    assert post["media"] == [{"mediaFormat": "PHOTO", "sourceUrl": photo.url}]
    assert photo.url.rsplit("/", 1)[-1] in media.downloads  # Google fetched it


def test_call_to_action_types_are_read_in_any_spelling(gbp: GoogleBusinessProvider) -> None:
    for spelling in ("learn more", "Learn-More", "LEARN_MORE"):
        options = {"call_to_action": {"type": spelling, "url": "https://acme.example"}}
        gbp.check(PublishRequest(text="Hi", options=options))
    with pytest.raises(Permanent) as caught:
        gbp.check(PublishRequest(text="Hi", options={"call_to_action": {"type": "visit"}}))
    assert caught.value.code == "invalid_options"


async def test_an_event_post_with_a_call_button(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    options = {"post_type": "event", "event": EVENT, "call_to_action": {"type": "CALL"}}
    await gbp.publish(location, PublishRequest(text="Come along", options=options))
    [post] = kept(fake)
    assert post["topicType"] == "EVENT"
    assert post["callToAction"] == {"actionType": "CALL"}
    assert post["event"] == {
        "title": "Winter fair",
        "schedule": {
            "startDate": {"year": 2026, "month": 12, "day": 20},
            "startTime": {"hours": 10, "minutes": 0, "seconds": 0, "nanos": 0},
            "endDate": {"year": 2026, "month": 12, "day": 20},
            "endTime": {"hours": 16, "minutes": 30, "seconds": 0, "nanos": 0},
        },
    }


async def test_an_offer_post_with_its_coupon_terms_and_link(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    options = {
        "post_type": "offer",
        "event": EVENT,
        "offer": {"coupon_code": "BREAD10", "terms": "One per visit",
                  "redeem_url": "https://acme.example/redeem"},
    }  # fmt: skip
    await gbp.publish(location, PublishRequest(text="10% off", options=options))
    [post] = kept(fake)
    assert post["topicType"] == "OFFER"
    assert post["offer"] == {
        "couponCode": "BREAD10",
        "termsConditions": "One per visit",
        "redeemOnlineUrl": "https://acme.example/redeem",
    }


@pytest.mark.parametrize(
    ("text", "options", "rule"),
    [
        ("x" * 1501, {}, "text_too_long"),
        ("", {}, "empty"),
        ("Hi", {"post_type": "event"}, "event_needs_event"),
        ("Hi", {"post_type": "offer"}, "offer_needs_event"),
        ("Hi", {"event": EVENT}, "event_not_taken"),
        ("Hi", {"post_type": "event", "event": EVENT, "offer": {}}, "offer_not_taken"),
        ("Hi", {"post_type": "event", "event": {**EVENT, "end": EVENT["start"]}}, "event_schedule"),
        ("Hi", {"post_type": "event", "event": {**EVENT, "end": "2026-12-20T18:00:00Z"}},
         "event_schedule"),
        ("Hi", {"call_to_action": {"type": "CALL", "url": "https://a.example"}},
         "call_takes_no_url"),
        ("Hi", {"call_to_action": {"type": "BOOK"}}, "call_to_action_url"),
        ("Hi", {"call_to_action": {"type": "BOOK", "url": "ftp://a.example"}}, "invalid_url"),
        ("Hi", {"post_type": "offer", "event": EVENT, "call_to_action": {"type": "CALL"}},
         "call_to_action_on_offer"),
        ("Hi", {"call_to_action": {"type": "GET_OFFER", "url": "https://a.example"}},
         "invalid_options"),
        ("Hi", {"location": LOCATION}, "invalid_options"),
    ],
)  # fmt: skip
async def test_a_post_google_would_refuse_is_refused_before_anything_is_sent(
    gbp: GoogleBusinessProvider,
    fake: FakeNetwork,
    location: Credentials,
    text: str,
    options: dict[str, Any],
    rule: str,
) -> None:
    with pytest.raises(Permanent) as caught:
        await gbp.publish(location, PublishRequest(text=text, options=options))
    assert caught.value.code == rule
    assert fake.sends() == []


async def test_a_video_is_refused_before_anything_is_sent(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials, media: MediaServer
) -> None:
    with pytest.raises(Permanent) as caught:
        gbp.check(PublishRequest(text="Clip", media=[media.video()]))
    assert caught.value.code == "media_type"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"topicType": "STANDARD", "summary": "x" * 1501}, "1500"),
        ({"topicType": "STANDARD", "summary": "Hi",
          "callToAction": {"actionType": "CALL", "url": "https://a.example"}}, "CALL"),
        ({"topicType": "EVENT", "summary": "Hi"}, "event.title"),
        ({"topicType": "STANDARD", "summary": "Hi", "pinned": True}, "Unknown name"),
        ({"topicType": "STANDARD", "summary": "Hi",
          "media": [{"mediaFormat": "VIDEO", "sourceUrl": "https://a.example/v.mp4"}]}, "PHOTO"),
    ],
)  # fmt: skip
async def test_the_fake_refuses_what_google_refuses_on_its_own(
    fake: FakeNetwork, location: Credentials, body: dict[str, Any], says: str
) -> None:
    async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
        response = await http.post(
            f"{fake.url}/v4/{LOCATION}/localPosts",
            json=body,
            headers={"Authorization": f"Bearer {location.access_token}"},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert says in error["message"]
    assert kept(fake) == []


# --- failures ----------------------------------------------------------------------------------


async def test_ten_edits_a_minute_then_a_429_waits_for_the_next_minute(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    for number in range(10):
        await gbp.publish(location, PublishRequest(text=f"Post {number}"))
    with pytest.raises(Retryable) as caught:
        await gbp.publish(location, PublishRequest(text="One too many"))
    assert (caught.value.code, caught.value.after) == ("rate_limited", 60)
    assert len(kept(fake)) == 10


async def test_a_429_with_retry_after_waits_that_long(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    quota = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota"}}
    fake.inject(status=429, path="localPosts$", headers={"Retry-After": "17"}, body=quota)
    with pytest.raises(Retryable) as caught:
        await gbp.publish(location, PublishRequest(text="Later"))
    assert caught.value.after == 17


async def test_a_revoked_token_needs_the_person_again(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    fake.revoke_tokens()
    with pytest.raises(ReauthRequired) as caught:
        await gbp.publish(location, PublishRequest(text="Hello"))
    assert caught.value.code == "unauthenticated"
    with pytest.raises(ReauthRequired):
        await gbp.find_recent(location, since=clock.now() - timedelta(hours=1))


async def test_a_lost_answer_is_a_doubt_that_reading_back_settles_without_a_second_post(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    # Impatient for the post whose answer is lost only: reading back waits as T21 does.
    impatient = GoogleBusinessProvider(fake.config("google_business", timeout_s=0.5))
    fake.inject(status=200, path="localPosts$", method="POST", lose_response=True, delay_s=2)
    since = clock.now() - timedelta(seconds=5)
    with pytest.raises(Ambiguous):
        await impatient.publish(location, PublishRequest(text="Did it go out?"))
    [found] = await gbp.find_recent(location, since=since)
    assert gbp.comparable_text(found.text or "") == gbp.comparable_text("Did it go out?")
    assert found.external_id.startswith(f"{LOCATION}/localPosts/")
    assert [send["outcome"] for send in fake.sends()] == ["fault-injected-after-effect"]


async def test_a_server_error_after_sending_is_a_doubt_and_before_posting_retryable(
    gbp: GoogleBusinessProvider, fake: FakeNetwork, location: Credentials
) -> None:
    fake.inject(status=503, path="localPosts$", method="POST")
    with pytest.raises(Ambiguous):
        await gbp.publish(location, PublishRequest(text="Hello"))
    fake.inject(status=503, path="localPosts$", method="GET")
    with pytest.raises(Retryable):
        await gbp.find_recent(location, since=clock.now() - timedelta(hours=1))


async def test_find_recent_reads_every_page_newest_first(
    gbp: GoogleBusinessProvider, location: Credentials
) -> None:
    since = clock.now() - timedelta(minutes=1)
    for number in range(3):
        await gbp.publish(location, PublishRequest(text=f"Post {number}"))
    found = await gbp.find_recent(location, since=since, limit=2)
    assert [post.text for post in found] == ["Post 2", "Post 1"]


async def test_google_gives_no_numbers_per_post(
    gbp: GoogleBusinessProvider, location: Credentials
) -> None:
    assert gbp.find_recent_blocker(location) is None
    with pytest.raises(NotPermitted) as caught:
        await gbp.metrics(location, [f"{LOCATION}/localPosts/1"])
    assert "reportInsights" in caught.value.message


def sandboxed(url: str) -> PlatformConfig:
    return FakeNetwork(f"{url}/google_business").config("google_business")


async def test_a_sandbox_restarted_from_its_state_file_keeps_the_grant_and_its_posts(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "sandbox-state.pickle"
    with ThreadedServer(create_sandbox_app(state_path=state_file)) as first:
        before = GoogleBusinessProvider(sandboxed(first.url))
        [connection] = await connect(before)
        held = credentials(connection)
        await before.publish(held, PublishRequest(text="Before the restart"))
    with ThreadedServer(create_sandbox_app(state_path=state_file)) as second:
        after = GoogleBusinessProvider(sandboxed(second.url))
        await after.publish(held, PublishRequest(text="After the restart"))
        found = await after.find_recent(held, since=clock.now() - timedelta(minutes=5))
        assert [post.text for post in found] == ["After the restart", "Before the restart"]
        assert await after.refresh(held) is not None
        [again] = await connect(after)
        assert again.profile.external_id == LOCATION
