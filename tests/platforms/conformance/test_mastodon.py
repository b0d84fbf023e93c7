"""The Mastodon adapter replayed against Mastodon's own reference examples: it must send each
documented request as the page shows it and read the documented answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from t21.core.outside import Retryable
from t21.platforms.base import Credentials, PostMetrics, Published, PublishRequest
from t21.platforms.mastodon import MastodonProvider
from tests.platforms.conformance import mastodon as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork


def _provider(served: Replay) -> MastodonProvider:
    config = FakeNetwork(served.url).config("mastodon")
    return MastodonProvider(replace(config, client_id="T21"))


ACCOUNT = Credentials(
    access_token=reference.ACCESS_TOKEN, external_id=f"{reference.ACCOUNT_ID}@mastodon.social"
)


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        reference.REGISTER_APP,
        reference.AUTHORIZATION_SERVER,
        reference.TOKEN,
        reference.VERIFY_CREDENTIALS,
        reference.INSTANCE_INFO,
        reference.POST_STATUS,
        reference.RATE_LIMITED,
        reference.GET_STATUS,
    ]
    assert len(exchanges) >= 5
    assert all(e.source.startswith("https://docs.joinmastodon.org/") for e in exchanges)


async def test_connecting_registers_the_app_then_exchanges_the_code() -> None:
    with replay(
        reference.REGISTER_APP,
        reference.AUTHORIZATION_SERVER,
        reference.TOKEN,
        reference.VERIFY_CREDENTIALS,
    ) as served:
        provider = _provider(served)
        app = await provider.register_app("mastodon.social", reference.REDIRECT_URI)
        [connection] = await provider.exchange_code_at(
            app,
            code="the-code",
            redirect_uri=reference.REDIRECT_URI,
            code_verifier="v" * 43,
        )
    served.check()
    assert (app.client_id, app.pkce) == (reference.CLIENT_ID, True)
    assert connection.profile.external_id == "14715@mastodon.social"
    assert connection.profile.username == "trwnh@mastodon.social"
    assert connection.grant.access_token == reference.ACCESS_TOKEN


async def test_publishing_reads_the_instance_limit_then_posts_with_its_key() -> None:
    with replay(reference.INSTANCE_INFO, reference.POST_STATUS) as served:
        published = await _provider(served).publish(
            ACCOUNT,
            PublishRequest(
                text='"I lost my inheritance with one wrong digit on my sort code"',
                options={"visibility": "public", "language": "en"},
                key="target-1",
            ),
        )
    served.check()
    assert isinstance(published, Published)
    assert published.external_id == reference.STATUS_ID
    assert published.permalink == f"https://mastodon.social/@trwnh/{reference.STATUS_ID}"
    assert published.published_at == datetime.fromisoformat("2019-12-08T03:48:33.901+00:00")


async def test_a_spent_limit_is_retryable_until_its_reset() -> None:
    with (
        replay(reference.INSTANCE_INFO, reference.RATE_LIMITED) as served,
        pytest.raises(Retryable) as limited,
    ):
        await _provider(served).publish(ACCOUNT, PublishRequest(text="again"))
    served.check()
    assert limited.value.code == "rate_limited"
    assert limited.value.after is not None
    assert limited.value.after > 3600


async def test_metrics_read_favourites_boosts_and_replies() -> None:
    with replay(reference.GET_STATUS) as served:
        numbers = await _provider(served).metrics(ACCOUNT, [reference.STATUS_ID])
    served.check()
    assert numbers == {reference.STATUS_ID: PostMetrics(likes=11, shares=6, comments=5)}
