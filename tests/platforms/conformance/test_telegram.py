"""The Telegram adapter replayed against the Bot API reference: it must send each documented
request as the reference describes it and read the documented objects."""

from __future__ import annotations

from dataclasses import replace

import pytest

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import Credentials, PublishRequest
from t21.platforms.telegram import TelegramProvider
from tests.platforms.conformance import telegram as reference
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import FakeNetwork

REQUESTER = "user-1|brand-1"
CHANNEL = Credentials(
    access_token=f"telegram-chat:{reference.CHAT_ID}",
    external_id=str(reference.CHAT_ID),
    username="acme_news",
)


def _provider(served: Replay) -> TelegramProvider:
    config = FakeNetwork(served.url).config("telegram")
    return TelegramProvider(replace(config, client_id="123456", client_secret=reference.TOKEN))


async def test_connecting_reads_the_bot_the_chat_its_rights_and_the_posted_proof() -> None:
    with replay() as probe:
        proof = _provider(probe).proof_code(REQUESTER, reference.CHAT_ID)
    with replay(
        reference.GET_ME,
        reference.GET_CHAT,
        reference.GET_CHAT_MEMBER,
        reference.get_updates(proof),
    ) as served:
        [connection] = await _provider(served).connect_with_proof(
            {"chat": "https://t.me/acme_news"}, requester=REQUESTER
        )
    served.check()
    assert connection.profile.external_id == str(reference.CHAT_ID)
    assert (connection.profile.username, connection.profile.display_name) == (
        "acme_news",
        "Acme News",
    )


async def test_a_message_with_entities_is_sent_and_its_id_becomes_the_external_id() -> None:
    with replay(reference.SEND_MESSAGE) as served:
        published = await _provider(served).publish(
            CHANNEL,
            PublishRequest(
                text="<b>Spring</b> sale today",
                options={"parse_mode": "HTML", "silent": True},
            ),
        )
    served.check()
    assert published.external_id == f"{reference.CHAT_ID}:18"
    assert published.permalink == "https://t.me/acme_news/18"
    assert published.published_at is not None


async def test_a_429_waits_retry_after_and_a_kicked_bot_needs_reconnecting() -> None:
    with replay(reference.RATE_LIMITED, reference.KICKED) as served:
        provider = _provider(served)
        with pytest.raises(Retryable) as limited:
            await provider.publish(CHANNEL, PublishRequest(text="again"))
        with pytest.raises(ReauthRequired):
            await provider.publish(CHANNEL, PublishRequest(text="hello?"))
    served.check()
    assert limited.value.after == 35
