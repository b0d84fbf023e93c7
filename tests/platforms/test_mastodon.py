"""The Mastodon adapter against the Mastodon fake over real HTTP: registering on an instance,
connecting with PKCE (and without, on an older instance), publishing text and images, media
processing, idempotent reconciliation, rate limits, revoked tokens and metrics."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from t21.core import clock
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Continuing,
    Credentials,
    MediaKind,
    PostMetrics,
    Provider,
    Published,
    PublishRequest,
)
from t21.platforms.mastodon import AppRegistration, MastodonProvider
from t21.platforms.mastodon.provider import idempotency_key, mastodon_length
from t21.sandbox.mastodon import create_mastodon_app
from t21.sandbox.mastodon.counting import countable_length
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    credentials,
    serve,
)

INSTANCE = "mastodon.example"
ACCOUNT = "109348729384756123"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_mastodon_app()) as fake:
        yield fake


@pytest.fixture
def mastodon(fake: FakeNetwork) -> MastodonProvider:
    return MastodonProvider(fake.config("mastodon"))


@pytest.fixture
async def app(mastodon: MastodonProvider) -> AppRegistration:
    return await mastodon.register_app(INSTANCE, REDIRECT_URI)


@pytest.fixture
async def account(mastodon: MastodonProvider, app: AppRegistration) -> Credentials:
    code, verifier = await authorize(mastodon, app)
    [connection] = await mastodon.exchange_code_at(
        app, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    return credentials(connection)


async def authorize(provider: MastodonProvider, app: AppRegistration) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    url = provider.authorization_url_at(
        app, state="state-1", redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.get(url)
    assert answer.status_code == 302, answer.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    assert query["state"] == "state-1"
    return query["code"], verifier


def statuses(fake: FakeNetwork) -> list[dict[str, Any]]:
    return fake.published()


# --- the declared surface ----------------------------------------------------------------------


def test_provider_satisfies_the_protocol_and_declares_threads_and_idempotency() -> None:
    provider: Provider = MastodonProvider(FakeNetwork("http://127.0.0.1:9").config("mastodon"))
    assert (provider.name, provider.uses_pkce) == ("mastodon", True)
    assert provider.limits.max_text == 500
    assert (provider.limits.max_images, provider.limits.max_videos) == (4, 1)
    assert MastodonProvider.supports_threads
    assert MastodonProvider.supports_idempotency


def test_unknown_or_malformed_options_are_refused_as_invalid_options() -> None:
    provider = MastodonProvider(FakeNetwork("http://127.0.0.1:9").config("mastodon"))
    options: dict[str, Any]
    for options in ({"poll": {}}, {"visibility": "friends"}, {"language": "english"}):
        with pytest.raises(Permanent) as refused:
            provider.check(PublishRequest(text="hi", options=options))
        assert refused.value.code == "invalid_options"
    provider.check(
        PublishRequest(
            text="hi",
            options={"visibility": "unlisted", "spoiler_text": "cw", "sensitive": True,
                     "language": "en"},
        )
    )  # fmt: skip


def test_links_count_23_and_remote_mentions_their_local_part_in_both_counters() -> None:
    text = "see https://example.com/" + "a" * 200 + " @alice@social.example.org 👩‍👩‍👧"
    expected = len("see ") + 23 + len(" @alice ") + 1
    assert mastodon_length(text) == expected
    assert countable_length("", text) == expected


def test_text_over_the_limit_with_its_content_warning_is_refused_naming_the_rule() -> None:
    provider = MastodonProvider(FakeNetwork("http://127.0.0.1:9").config("mastodon"))
    with pytest.raises(Permanent) as refused:
        provider.check(PublishRequest(text="a" * 490, options={"spoiler_text": "b" * 11}))
    assert refused.value.code == "text_too_long"


# --- connecting --------------------------------------------------------------------------------


async def test_connect_registers_an_app_then_runs_oauth_with_pkce(
    fake: FakeNetwork, mastodon: MastodonProvider, app: AppRegistration
) -> None:
    assert app.instance == INSTANCE
    assert app.pkce
    url = mastodon.authorization_url_at(
        app, state="s", redirect_uri=REDIRECT_URI, code_verifier="v" * 43
    )
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == set(MastodonProvider.scopes)
    code, verifier = await authorize(mastodon, app)
    [connection] = await mastodon.exchange_code_at(
        app, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    assert connection.profile.external_id == f"{ACCOUNT}@{INSTANCE}"
    assert connection.profile.username == f"t21sandbox@{INSTANCE}"
    assert connection.grant.refresh_token is None
    assert connection.grant.expires_in is None
    # The code is single use, and a wrong verifier is refused.
    with pytest.raises(Permanent) as reused:
        await mastodon.exchange_code_at(
            app, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
        )
    assert reused.value.code == "invalid_grant"
    code, _ = await authorize(mastodon, app)
    with pytest.raises(Permanent):
        await mastodon.exchange_code_at(
            app, code=code, redirect_uri=REDIRECT_URI, code_verifier="w" * 43
        )


async def test_an_instance_without_pkce_is_connected_without_it(
    fake: FakeNetwork, mastodon: MastodonProvider
) -> None:
    fake.control("POST", "/settings", {"pkce": False})
    app = await mastodon.register_app("old.example", REDIRECT_URI)
    assert not app.pkce
    url = mastodon.authorization_url_at(
        app, state="s", redirect_uri=REDIRECT_URI, code_verifier="v" * 43
    )
    assert "code_challenge" not in url
    code, verifier = await authorize(mastodon, app)
    [connection] = await mastodon.exchange_code_at(
        app, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    assert connection.profile.external_id == f"{ACCOUNT}@old.example"


async def test_a_malformed_instance_is_refused_before_any_request(
    fake: FakeNetwork, mastodon: MastodonProvider
) -> None:
    for bad in ("not a host", "evil.example/path", "", "a..b"):
        with pytest.raises(Permanent) as refused:
            await mastodon.register_app(bad, REDIRECT_URI)
        assert refused.value.code == "invalid_instance"
    assert fake.requests() == []


async def test_the_protocols_instance_less_connect_says_an_instance_is_needed(
    mastodon: MastodonProvider,
) -> None:
    with pytest.raises(Permanent) as refused:
        mastodon.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_verifier=None)
    assert refused.value.code == "instance_required"


async def test_revoked_token_is_reauth_required_and_revoke_reaches_the_instance(
    fake: FakeNetwork, mastodon: MastodonProvider, app: AppRegistration, account: Credentials
) -> None:
    assert await mastodon.refresh(account) is None
    assert await mastodon.revoke_at(app, account)
    with pytest.raises(ReauthRequired) as refused:
        await mastodon.publish(account, PublishRequest(text="after revoke"))
    assert refused.value.code == "unauthorized"
    assert statuses(fake) == []


async def test_a_token_without_write_statuses_is_reauth_required(
    fake: FakeNetwork, app: AppRegistration
) -> None:
    narrow = MastodonProvider(fake.config("mastodon", scopes=("read:accounts", "read:statuses")))
    narrow_app = await narrow.register_app(INSTANCE, REDIRECT_URI)
    code, verifier = await authorize(narrow, narrow_app)
    [connection] = await narrow.exchange_code_at(
        narrow_app, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    )
    with pytest.raises(ReauthRequired) as refused:
        await narrow.publish(credentials(connection), PublishRequest(text="no scope"))
    assert refused.value.code == "missing_scope"


# --- publishing --------------------------------------------------------------------------------


async def test_publish_text_with_options_sends_an_idempotency_key(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    request = PublishRequest(
        text="Hello fediverse https://example.com/" + "x" * 600,
        options={"visibility": "unlisted", "spoiler_text": "long link", "language": "en"},
    )
    published = await mastodon.publish(account, request)
    assert isinstance(published, Published)
    [status] = statuses(fake)
    assert status["id"] == published.external_id
    assert status["visibility"] == "unlisted"
    assert published.permalink
    assert published.permalink.endswith(f"/{published.external_id}")
    assert published.published_at is not None
    [send] = fake.sends()
    assert send["outcome"] == "accepted"


async def test_the_instance_limit_is_read_from_the_instance(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    fake.control("POST", "/settings", {"max_text": 20})
    with pytest.raises(Permanent) as refused:
        await mastodon.publish(account, PublishRequest(text="x" * 21))
    assert refused.value.code == "text_too_long"
    assert fake.sends() == []
    fake.control("POST", "/settings", {"max_text": 5000})
    await mastodon.publish(account, PublishRequest(text="y" * 1000))
    assert len(statuses(fake)) == 1


async def test_publish_images_with_alt_text(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials, media: MediaServer
) -> None:
    images = [media.image(64, 64) for _ in range(2)]
    images[0] = replace(images[0], alt_text="a grey square")
    await mastodon.publish(account, PublishRequest(text="two images", media=images))
    [status] = statuses(fake)
    assert len(status["media_ids"]) == 2
    uploads = [r for r in fake.requests() if r["path"] == "/api/v2/media"]
    assert len(uploads) == 2


async def test_a_video_is_polled_until_processed_then_posted(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials, media: MediaServer
) -> None:
    fake.control("POST", "/settings", {"processing_polls": 2})
    await mastodon.publish(account, PublishRequest(text="", media=[media.video(size=4096)]))
    polls = [r for r in fake.requests() if r["path"].startswith("/api/v1/media/")]
    assert len(polls) == 3  # 206, 206, 200
    assert len(statuses(fake)) == 1


async def test_a_long_processing_continues_later_with_the_same_upload(
    fake: FakeNetwork, media: MediaServer, account: Credentials
) -> None:
    brief = MastodonProvider(replace(fake.config("mastodon"), poll_timeout_s=0.0))
    fake.control("POST", "/settings", {"processing_polls": 1})
    request = PublishRequest(text="a video", media=[media.video(size=4096)], key="t-9")
    first = await brief.publish(account, request)
    assert isinstance(first, Continuing)
    assert first.after_s > 0
    assert statuses(fake) == []
    resumed = await brief.publish(account, replace(request, progress=first.progress))
    assert isinstance(resumed, Published)
    [status] = statuses(fake)
    assert status["media_ids"] == first.progress["media_ids"]
    uploads = [r for r in fake.requests() if r["path"] == "/api/v2/media"]
    assert len(uploads) == 1  # the resumed attempt uploaded nothing again


async def test_bytes_that_are_not_what_they_claim_are_refused(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials, media: MediaServer
) -> None:
    fake_png = media.item(MediaKind.IMAGE, b"not a png at all", "image/png")
    with pytest.raises(Permanent) as refused:
        await mastodon.publish(account, PublishRequest(text="x", media=[fake_png]))
    assert "not what they are reported" in refused.value.message
    assert statuses(fake) == []


async def test_a_429_is_retryable_at_the_windows_reset(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    fake.control("POST", "/settings", {"status_limit": 1})
    await mastodon.publish(account, PublishRequest(text="first"))
    with pytest.raises(Retryable) as limited:
        await mastodon.publish(account, PublishRequest(text="second"))
    assert limited.value.code == "rate_limited"
    # The window is 3 hours long: its reset is in the future, within 3 hours.
    assert limited.value.after is not None
    assert 0 < limited.value.after <= 3 * 3600
    assert len(statuses(fake)) == 1


async def test_a_lost_answer_is_ambiguous_and_the_repeat_returns_the_same_status(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    request = PublishRequest(text="exactly once", options={"visibility": "public"}, key="t-1")
    impatient = MastodonProvider(fake.config("mastodon", timeout_s=0.3))
    fake.inject(path="^/api/v1/statuses$", method="POST", status=200, lose_response=True,
                delay_s=1.0)  # fmt: skip
    with pytest.raises(Ambiguous):
        await impatient.publish(account, request)
    [first] = statuses(fake)
    # Reconciliation: the same request again carries the same Idempotency-Key.
    again = await mastodon.publish(account, request)
    assert isinstance(again, Published)
    assert again.external_id == first["id"]
    assert len(statuses(fake)) == 1
    # The fake's record: the repeat was answered from the key, nothing new was posted.
    assert [s["outcome"] for s in fake.sends()] == ["fault-injected-after-effect", "replayed"]
    # And the post is found among the account's recent statuses.
    recent = await mastodon.find_recent(account, since=clock.now() - timedelta(minutes=5))
    assert [post.external_id for post in recent] == [first["id"]]
    assert recent[0].text == "exactly once"


async def test_a_5xx_on_publishing_is_ambiguous_but_a_5xx_on_reading_is_retryable(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    fake.inject(path="^/api/v1/statuses$", method="POST", status=503, body={"error": "down"})
    with pytest.raises(Ambiguous):
        await mastodon.publish(account, PublishRequest(text="maybe"))
    fake.inject(path="/statuses$", method="GET", status=503, body={"error": "down"})
    with pytest.raises(Retryable):
        await mastodon.find_recent(account, since=clock.now() - timedelta(minutes=5))


def test_the_idempotency_key_is_the_posts_identity() -> None:
    who = Credentials(access_token="t", external_id=f"1@{INSTANCE}")
    other = Credentials(access_token="t", external_id=f"2@{INSTANCE}")
    post = PublishRequest(text="same", options={"visibility": "public"})
    same = PublishRequest(text="same", options={"visibility": "public"})
    assert idempotency_key(who, post) == idempotency_key(who, same)
    assert idempotency_key(who, post) != idempotency_key(other, post)
    assert idempotency_key(who, post) != idempotency_key(who, PublishRequest(text="other"))
    # A publication's own key wins: two identical posts of two targets are two statuses.
    first = PublishRequest(text="same", key="target-1")
    assert idempotency_key(who, first) != idempotency_key(who, replace(first, key="target-2"))
    assert idempotency_key(who, first) == idempotency_key(who, replace(post, key="target-1"))


# --- reading back ------------------------------------------------------------------------------


async def test_metrics_are_favourites_boosts_and_replies(
    fake: FakeNetwork, mastodon: MastodonProvider, account: Credentials
) -> None:
    published = await mastodon.publish(account, PublishRequest(text="count me"))
    assert isinstance(published, Published)
    counts = {"favourites_count": 7, "reblogs_count": 3, "replies_count": 2}
    fake.control("POST", "/metrics", {"id": published.external_id, **counts})
    numbers = await mastodon.metrics(account, [published.external_id, "999"])
    assert numbers == {
        published.external_id: PostMetrics(likes=7, shares=3, comments=2),
        "999": None,
    }
