"""The LinkedIn adapter replayed against LinkedIn's own reference examples: it must send each
documented request as the page shows it and read the documented answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import Credentials, PostMetrics, PublishRequest
from t21.platforms.linkedin import LinkedInProvider
from tests.platforms.conformance import linkedin as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork, media_server


def _provider(served: Replay) -> LinkedInProvider:
    return LinkedInProvider(FakeNetwork(served.url).config("linkedin"))


def _account(author: str, refresh_token: str | None = None) -> Credentials:
    return Credentials(
        access_token=reference.ACCESS_TOKEN,
        external_id=author,
        refresh_token=refresh_token,
        scopes=frozenset({"openid", "profile", "w_member_social", "r_member_postAnalytics"}),
    )


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        reference.TEXT_POST,
        *reference.IMAGE_POST,
        reference.TOKEN_REFRESH,
        reference.REVOKED,
        reference.THROTTLED,
        *reference.STATISTICS,
        reference.FIND_BY_AUTHOR,
    ]
    assert len(exchanges) >= 5
    assert all(e.source.startswith("https://learn.microsoft.com/") for e in exchanges)


async def test_publish_sends_the_documented_text_post_and_reads_the_restli_id() -> None:
    with replay(reference.TEXT_POST) as served:
        published = await _provider(served).publish(
            _account(reference.AUTHOR), PublishRequest(text="Sample text Post")
        )
    served.check()
    assert published.external_id == "urn:li:share:6844785523593134080"
    assert published.permalink is not None
    assert published.permalink.endswith("/feed/update/urn:li:share:6844785523593134080")


async def test_an_image_post_initializes_uploads_checks_and_references_the_image() -> None:
    with media_server() as media, replay(*reference.IMAGE_POST) as served:
        image = replace(media.image(40, 30), alt_text="testing for alt tags")
        published = await _provider(served).publish(
            _account(reference.IMAGE_OWNER),
            PublishRequest(text="Sample image Post", media=[image]),
        )
    served.check()
    assert published.external_id == "urn:li:share:6844785523593134080"
    upload = served.seen[1]
    assert upload.headers["content-type"] == "image/png"
    assert upload.body == media.files[image.url.rsplit("/", 1)[-1]][0]


async def test_refresh_sends_the_documented_form_and_keeps_the_first_grants_expiry() -> None:
    with replay(reference.TOKEN_REFRESH) as served:
        grant = await _provider(served).refresh(
            _account("urn:li:person:yQ3dK9aPzR", refresh_token=reference.REFRESH_TOKEN)
        )
    served.check()
    assert grant is not None
    assert (grant.access_token, grant.expires_in) == ("BBBB2", 5_184_000)
    assert grant.refresh_token == reference.REFRESH_TOKEN
    assert grant.refresh_expires_in == 26_438_400
    assert grant.scopes == {"r_basicprofile", "w_member_social"}


async def test_a_revoked_token_is_reauth_and_a_spent_daily_limit_waits_for_midnight() -> None:
    with replay(reference.REVOKED, reference.THROTTLED) as served:
        provider = _provider(served)
        account = _account(reference.AUTHOR)
        with pytest.raises(ReauthRequired) as revoked:
            await provider.publish(account, PublishRequest(text="Sample text Post"))
        with pytest.raises(Retryable) as throttled:
            await provider.publish(account, PublishRequest(text="Sample text Post"))
    served.check()
    assert revoked.value.code == "revoked"
    assert throttled.value.code == "rate_limited"
    assert throttled.value.after is not None
    assert throttled.value.after > 60  # until 00:00 UTC, not the short infrastructure backoff


async def test_metrics_ask_each_documented_query_type_and_map_the_counts() -> None:
    with replay(*reference.STATISTICS) as served:
        numbers = await _provider(served).metrics(
            _account("urn:li:person:yQ3dK9aPzR"), [reference.STATISTICS_POST]
        )
    served.check()
    counts = reference.STATISTICS_COUNTS
    assert numbers[reference.STATISTICS_POST] == PostMetrics(
        impressions=counts["IMPRESSION"],
        reach=counts["MEMBERS_REACHED"],
        shares=counts["RESHARE"],
        likes=counts["REACTION"],
        comments=counts["COMMENT"],
    )
    # The entity is a Rest.li tuple holding the percent-encoded URN.
    raw = served.seen[0]
    assert dict(raw.query)["entity"] == f"(share:{reference.STATISTICS_POST})"


async def test_find_recent_uses_the_author_finder_with_the_read_permission() -> None:
    with replay(reference.FIND_BY_AUTHOR) as served:
        page = _account(reference.AUTHOR)
        page = replace(page, scopes=page.scopes | {"r_organization_social"})
        found = await _provider(served).find_recent(
            page, since=datetime(2021, 9, 1, tzinfo=UTC), limit=5
        )
    served.check()
    [post] = found
    assert (post.external_id, post.text) == ("urn:li:share:6844785523593134080", "Sample text Post")
    assert post.created_at == datetime.fromtimestamp(1631905424.588, tz=UTC)
