"""The Telegram adapter against the sandbox's Bot API fake over HTTP: connecting with a proof of
ownership, publishing text with entities, a photo, a video and an album, and each failure
classified; the markup parser on its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from t21.core import clock
from t21.core.outside import Ambiguous, NotPermitted, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import Credentials, MediaItem, ProofRequired, PublishRequest
from t21.platforms.telegram import TelegramProvider
from t21.platforms.telegram.markup import MarkupError, parse, utf16_length
from t21.platforms.telegram.wire import CHUNK_BYTES
from t21.sandbox.telegram import create_telegram_app
from tests.platforms.harness import FakeNetwork, MediaServer, serve

REQUESTER = "user-1|brand-1"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_telegram_app()) as fake:
        yield fake


@pytest.fixture
def telegram(fake: FakeNetwork) -> TelegramProvider:
    """The adapter as it reaches the real Telegram: no sandbox owner posts its proofs."""
    return TelegramProvider(replace(fake.config("telegram"), sandbox=False))


async def _proof(telegram: TelegramProvider, chat: str, requester: str = REQUESTER) -> str:
    with pytest.raises(ProofRequired) as asked:
        await telegram.connect_with_proof({"chat": chat}, requester=requester)
    return asked.value.proof


async def connected(
    fake: FakeNetwork, telegram: TelegramProvider, chat: str = "@acme_news"
) -> Credentials:
    proof = await _proof(telegram, chat)
    fake.control("POST", f"/chats/{chat}/posts", {"text": f"Connecting T21: {proof}"})
    [connection] = await telegram.connect_with_proof({"chat": chat}, requester=REQUESTER)
    return Credentials(
        access_token=connection.grant.access_token,
        external_id=connection.profile.external_id,
        username=connection.profile.username,
    )


def messages(fake: FakeNetwork, chat: str = "@acme_news") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = fake.control("GET", f"/chats/{chat}/messages?sent_by=bot")[
        "messages"
    ]
    return found


# --- connecting --------------------------------------------------------------------------------


async def test_a_channel_connects_once_its_owner_posts_the_proof_code(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    proof = await _proof(telegram, "https://t.me/acme_news")
    assert proof.startswith("T21-")
    # The code is the requester's own: another person connecting the same chat gets another.
    assert await _proof(telegram, "@acme_news", requester="user-2|brand-9") != proof
    fake.control("POST", "/chats/@acme_news/posts", {"text": f"Connecting T21: {proof}"})
    [connection] = await telegram.connect_with_proof({"chat": "@acme_news"}, requester=REQUESTER)
    assert connection.profile.username == "acme_news"
    assert connection.profile.external_id.startswith("-100")
    assert connection.capabilities == {"chat_type": "channel"}
    # No secret is kept per account: the bot's token stays the operator's.
    assert "t21-sandbox-secret" not in connection.grant.access_token
    assert connection.grant.expires_in is None


async def test_in_the_sandbox_the_chats_owner_posts_the_code_and_the_chat_connects_at_once(
    fake: FakeNetwork,
) -> None:
    sandboxed = TelegramProvider(fake.config("telegram"))
    [connection] = await sandboxed.connect_with_proof({"chat": "@acme_news"}, requester=REQUESTER)
    assert connection.profile.username == "acme_news"
    [posted] = fake.control("GET", "/chats/@acme_news/messages")["messages"]
    assert posted["text"] == sandboxed.proof_code(REQUESTER, int(connection.profile.external_id))
    # A sandbox chat whose owner declines is asked for the code, as at Telegram.
    fake.control("POST", "/chats", {"username": "shy_owner", "owner_posts_proofs": False})
    with pytest.raises(ProofRequired):
        await sandboxed.connect_with_proof({"chat": "@shy_owner"}, requester=REQUESTER)


async def test_someone_elses_code_in_the_chat_proves_nothing(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    theirs = await _proof(telegram, "@acme_news", requester="user-2|brand-9")
    fake.control("POST", "/chats/@acme_news/posts", {"text": theirs})
    with pytest.raises(ProofRequired):
        await telegram.connect_with_proof({"chat": "@acme_news"}, requester=REQUESTER)


async def test_in_a_group_only_an_admin_posting_the_code_proves_ownership(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    group = fake.control("POST", "/chats", {"username": "acme_team", "type": "supergroup"})
    proof = await _proof(telegram, "@acme_team")
    fake.control("POST", "/chats/@acme_team/posts", {"text": proof, "as": "member"})
    with pytest.raises(ProofRequired):
        await telegram.connect_with_proof({"chat": "@acme_team"}, requester=REQUESTER)
    fake.control("POST", "/chats/@acme_team/posts", {"text": proof, "as": "owner"})
    [connection] = await telegram.connect_with_proof(
        {"chat": str(group["id"])}, requester=REQUESTER
    )
    assert connection.profile.external_id == str(group["id"])


async def test_a_bot_that_may_not_post_or_a_chat_it_cannot_see_is_refused_with_what_to_do(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    fake.control("POST", "/chats", {"username": "not_admin", "bot_status": "member"})
    with pytest.raises(Permanent) as refused:
        await telegram.connect_with_proof({"chat": "@not_admin"}, requester=REQUESTER)
    assert refused.value.code == "bot_not_admin"
    assert "@t21_sandbox_bot" in refused.value.message
    fake.control("POST", "/chats", {"username": "no_posting", "can_post_messages": False})
    with pytest.raises(Permanent) as refused:
        await telegram.connect_with_proof({"chat": "@no_posting"}, requester=REQUESTER)
    assert refused.value.code == "bot_not_admin"
    with pytest.raises(Permanent) as unknown:
        await telegram.connect_with_proof({"chat": "-100999"}, requester=REQUESTER)
    assert unknown.value.code == "chat_not_found"
    for wrong in ({"chat": "not a chat!"}, {"chat": "@abc"}, {"handle": "@acme_news"}):
        with pytest.raises(Permanent):
            await telegram.connect_with_proof(wrong, requester=REQUESTER)


async def test_a_webhook_on_the_bot_is_named_as_the_reason_proofs_cannot_be_seen(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    fake.control("POST", "/webhook", {"url": "https://example.com/hook"})
    with pytest.raises(Permanent) as refused:
        await telegram.connect_with_proof({"chat": "@acme_news"}, requester=REQUESTER)
    assert refused.value.code == "webhook_set"


async def test_the_proof_is_found_past_a_full_page_of_old_updates(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    fake.control("POST", "/chats", {"username": "busy_chan"})
    proof = await _proof(telegram, "@acme_news")
    # 100 posts of an hour ago fill getUpdates' first page: older than any live code, so T21
    # confirms them (they are forgotten) and reads the next page.
    fake.control("POST", "/chats/@busy_chan/posts", {"text": "news", "age_s": 3600, "count": 100})
    fake.control("POST", "/chats/@acme_news/posts", {"text": proof})
    [connection] = await telegram.connect_with_proof({"chat": "@acme_news"}, requester=REQUESTER)
    assert connection.profile.username == "acme_news"


# --- publishing --------------------------------------------------------------------------------


async def test_html_text_is_sent_as_entities_counted_in_utf16_and_silent_without_sound(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    account = await connected(fake, telegram)
    text = '🎉 <b>Spring</b> sale: <a href="https://acme.test/s">today</a> &amp; <i>tomorrow</i>'
    published = await telegram.publish(
        account, PublishRequest(text=text, options={"parse_mode": "HTML", "silent": True})
    )
    chat_id, message_id = published.external_id.split(":")
    assert chat_id == account.external_id
    assert published.permalink == f"https://t.me/acme_news/{message_id}"
    [message] = messages(fake)
    assert message["text"] == "🎉 Spring sale: today & tomorrow"
    # The emoji is 2 UTF-16 units: "Spring" starts at 3.
    assert message["entities"] == [
        {"type": "bold", "offset": 3, "length": 6},
        {"type": "text_link", "url": "https://acme.test/s", "offset": 16, "length": 5},
        {"type": "italic", "offset": 24, "length": 8},
    ]
    [record] = fake.published()
    assert record["silent"] is True


async def test_markdown_v2_becomes_the_same_entities(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    account = await connected(fake, telegram)
    await telegram.publish(
        account,
        PublishRequest(
            text="*Bold* __under__ `x\\_y` [link](https://acme.test) 2\\.0\\!",
            options={"parse_mode": "MarkdownV2"},
        ),
    )
    [message] = messages(fake)
    assert message["text"] == "Bold under x_y link 2.0!"
    kinds = [(e["type"], e["offset"], e["length"]) for e in message["entities"]]
    assert kinds == [("bold", 0, 4), ("underline", 5, 5), ("code", 11, 3), ("text_link", 15, 4)]


async def test_a_photo_a_video_and_an_album_are_uploaded_and_captioned(
    fake: FakeNetwork, telegram: TelegramProvider, media: MediaServer
) -> None:
    account = await connected(fake, telegram)
    photo = await telegram.publish(account, PublishRequest(text="A photo", media=[media.image()]))
    video = await telegram.publish(
        account, PublishRequest(text="", media=[media.video(size=3 * CHUNK_BYTES + 5)])
    )
    album = await telegram.publish(
        account,
        PublishRequest(
            text="<b>Album</b>",
            media=[media.image(), media.image(800, 600), media.video()],
            options={"parse_mode": "HTML"},
        ),
    )
    sent = messages(fake)
    assert [("photo" in m, "video" in m) for m in sent] == [
        (True, False),
        (False, True),
        (True, False),
        (True, False),
        (False, True),
    ]
    assert sent[0]["caption"] == "A photo"
    assert "caption" not in sent[1]
    assert sent[1]["video"]["file_size"] == 3 * CHUNK_BYTES + 5
    # One caption, on the album's first item; all three share one media group.
    assert sent[2]["caption"] == "Album"
    assert sent[2]["caption_entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert len({m["media_group_id"] for m in sent[2:]}) == 1
    # Message 1 is the owner's proof post; the album's id is its first message's.
    assert [p.external_id.split(":")[1] for p in (photo, video, album)] == ["2", "3", "4"]


async def test_files_are_read_from_storage_in_chunks(
    fake: FakeNetwork, telegram: TelegramProvider, media: MediaServer
) -> None:
    account = await connected(fake, telegram)
    video = media.video(size=2 * CHUNK_BYTES + 10)
    reads: list[int] = []

    async def read(offset: int, length: int) -> bytes:
        reads.append(length)
        return await video.read(offset, length)

    item = MediaItem(**{**vars(video), "read": read})
    await telegram.publish(account, PublishRequest(text="chunked", media=[item]))
    assert reads == [CHUNK_BYTES, CHUNK_BYTES, 10]


async def test_the_fake_refuses_what_telegram_refuses(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    account = await connected(fake, telegram)
    base = f"{fake.url}/bott21-sandbox-secret"
    chat = int(account.external_id)
    cases = [
        ({"chat_id": chat, "text": "x" * 4097}, "message is too long"),
        ({"chat_id": chat, "text": " "}, "message text is empty"),
        # "🎉" is two UTF-16 units: an entity of one splits it.
        (
            {
                "chat_id": chat,
                "text": "🎉 hi",
                "entities": [{"type": "bold", "offset": 0, "length": 1}],
            },
            "splits a character",
        ),
        (
            {
                "chat_id": chat,
                "text": "hi",
                "entities": [{"type": "bold", "offset": 1, "length": 2}],
            },
            "beyond the text",
        ),
        ({"chat_id": -100999, "text": "hi"}, "chat not found"),
    ]
    async with httpx.AsyncClient(verify=tls_context(), timeout=5) as client:
        for body, words in cases:
            answer = await client.post(f"{base}/sendMessage", json=body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["ok"] is False
            assert words in answer.json()["description"]
        caption = await client.post(
            f"{base}/sendPhoto",
            data={"chat_id": str(chat), "caption": "c" * 1025},
            files={"photo": ("p.png", b"\x89PNG", "image/png")},
        )
        unknown = await client.post(f"{fake.url}/bot123:wrong/getMe")
    assert caption.json()["description"] == "Bad Request: message caption is too long"
    assert (unknown.status_code, unknown.json()["description"]) == (401, "Unauthorized")
    assert messages(fake) == []


async def test_a_429_waits_for_retry_after_and_a_removed_bot_needs_a_person(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    account = await connected(fake, telegram)
    fake.control("POST", "/limits", {"per_chat_per_minute": 1})
    await telegram.publish(account, PublishRequest(text="first"))
    with pytest.raises(Retryable) as limited:
        await telegram.publish(account, PublishRequest(text="second"))
    assert limited.value.code == "rate_limited"
    assert limited.value.after is not None
    assert 50 <= limited.value.after <= 60
    fake.control("POST", "/limits", {"per_chat_per_minute": 20})
    bot = {"status": "administrator", "can_post_messages": False}
    fake.control("POST", "/chats/@acme_news/bot", bot)
    with pytest.raises(ReauthRequired) as rights:
        await telegram.publish(account, PublishRequest(text="no rights"))
    assert rights.value.code == "bot_rights"
    fake.control("POST", "/chats/@acme_news/bot", {"status": "kicked"})
    with pytest.raises(ReauthRequired) as kicked:
        await telegram.publish(account, PublishRequest(text="kicked"))
    assert kicked.value.code == "bot_removed"
    assert "kicked" in kicked.value.message
    assert len(messages(fake)) == 1


async def test_a_lost_answer_is_a_doubt_that_telegram_cannot_settle(
    fake: FakeNetwork, telegram: TelegramProvider
) -> None:
    account = await connected(fake, telegram)
    impatient = TelegramProvider(replace(fake.config("telegram"), timeout_s=0.3))
    fake.inject(path="sendMessage$", status=200, lose_response=True, delay_s=1.0)
    with pytest.raises(Ambiguous):
        await impatient.publish(account, PublishRequest(text="did it go?"))
    assert len(messages(fake)) == 1
    assert telegram.find_recent_blocker(account) is not None
    with pytest.raises(NotPermitted):
        await telegram.find_recent(account, since=clock.now() - timedelta(minutes=5))
    with pytest.raises(NotPermitted) as no_views:
        await telegram.metrics(account, [f"{account.external_id}:1"])
    assert "view" in no_views.value.message


# --- rules and markup --------------------------------------------------------------------------


def test_rules_refuse_bad_options_markup_long_captions_and_big_albums(
    telegram: TelegramProvider, media: MediaServer
) -> None:
    def refused(request: PublishRequest) -> str | None:
        with pytest.raises(Permanent) as failure:
            telegram.check(request)
        return failure.value.code

    assert refused(PublishRequest(text="x", options={"pin": True})) == "invalid_options"
    assert refused(PublishRequest(text="x", options={"parse_mode": "BBCode"})) == "invalid_options"
    assert (
        refused(PublishRequest(text="<b>open", options={"parse_mode": "HTML"})) == "invalid_markup"
    )
    assert refused(PublishRequest(text="é" * 1025, media=[media.image()])) == "caption_too_long"
    assert refused(PublishRequest(text="😀" * 2049)) == "text_too_long"
    assert refused(PublishRequest(text="x", media=[media.image()] * 11)) == "too_many_media"
    assert refused(PublishRequest(text="x", media=[media.image(9000, 1001)])) == "media_too_big"
    # Markup is counted as readers see it: 4096 characters inside tags fit.
    telegram.check(PublishRequest(text=f"<b>{'x' * 4096}</b>", options={"parse_mode": "HTML"}))


@pytest.mark.parametrize(
    ("mode", "text", "expected_text", "entities"),
    [
        ("HTML", "a <s>b</s> <code>c</code>", "a b c", [("strikethrough", 2, 1), ("code", 4, 1)]),
        ("HTML", '<pre><code class="language-py">x=1</code></pre>', "x=1", [("pre", 0, 3)]),
        ("HTML", "<tg-spoiler>𝄞</tg-spoiler>", "𝄞", [("spoiler", 0, 2)]),
        (
            "MarkdownV2",
            "||s|| ~t~ _i_",
            "s t i",
            [("spoiler", 0, 1), ("strikethrough", 2, 1), ("italic", 4, 1)],
        ),
        ("MarkdownV2", "```python\nprint(1)\n```", "print(1)\n", [("pre", 0, 9)]),
    ],
)
def test_markup_parses_into_text_and_utf16_entities(
    mode: str, text: str, expected_text: str, entities: list[tuple[str, int, int]]
) -> None:
    formatted = parse(text, mode)
    assert formatted.text == expected_text
    assert [(e["type"], e["offset"], e["length"]) for e in formatted.entities] == entities


@pytest.mark.parametrize(
    ("mode", "text", "words"),
    [
        ("MarkdownV2", "Price: 2.0", "reserved"),
        ("MarkdownV2", "*open", "end of the entity"),
        ("MarkdownV2", "[x](https://a.test", "never closed"),
        ("HTML", "<script>x</script>", "Unsupported tag"),
        ("HTML", "<b>x</i>", "Unexpected end tag"),
        ("HTML", "<a>x</a>", "href"),
    ],
)
def test_broken_markup_is_refused_saying_where(mode: str, text: str, words: str) -> None:
    with pytest.raises(MarkupError) as refused:
        parse(text, mode)
    assert words in str(refused.value)


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_length("a😀é") == 4
