"""The LinkedIn adapter against the LinkedIn fake over real HTTP: connecting, every publishing
flow, reading back, tokens, and every failure class from LinkedIn's own error answers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from t21.core.outside import Ambiguous, NotPermitted, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import (
    Credentials,
    MediaItem,
    MediaKind,
    PostMetrics,
    Provider,
    PublishRequest,
    TextCounting,
)
from t21.platforms.linkedin import LinkedInOptions, LinkedInProvider
from t21.platforms.linkedin.wire import escape_little, seconds_until_utc_midnight, unescape_little
from t21.platforms.registry import platform_config
from t21.sandbox.linkedin import create_linkedin_app
from t21.sandbox.linkedin.wire import render_little
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    connect,
    credentials,
    mp4_bytes,
    serve,
)

API_VERSION_HEADERS = {"LinkedIn-Version": "202601", "X-Restli-Protocol-Version": "2.0.0"}


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_linkedin_app()) as fake:
        yield fake


@pytest.fixture
def linkedin(fake: FakeNetwork) -> LinkedInProvider:
    return LinkedInProvider(fake.config("linkedin"))


@pytest.fixture
async def member(linkedin: LinkedInProvider) -> Credentials:
    [connection] = await connect(linkedin)
    return credentials(connection)


# An app with the Community Management API product, and r_member_social granted by LinkedIn.
APPROVED_SCOPES = (
    "openid",
    "profile",
    "email",
    "w_member_social",
    "r_member_postAnalytics",
    "r_member_social",
)


@pytest.fixture
def approved(fake: FakeNetwork) -> LinkedInProvider:
    """T21 configured to ask for the analytics and read scopes, at an app LinkedIn gave them."""
    settings(fake, app_scopes=list(APPROVED_SCOPES))
    return LinkedInProvider(fake.config("linkedin", scopes=APPROVED_SCOPES))


@pytest.fixture
async def reader(approved: LinkedInProvider) -> Credentials:
    [connection] = await connect(approved)
    return credentials(connection)


def settings(fake: FakeNetwork, **values: Any) -> None:
    fake.control("POST", "/settings", values)


def sha256_of(item: MediaItem, server: MediaServer) -> str:
    name = item.url.rsplit("/", 1)[-1]
    return hashlib.sha256(server.files[name][0]).hexdigest()


def paths(fake: FakeNetwork, method: str, prefix: str) -> list[str]:
    return [
        r["path"] for r in fake.requests() if r["method"] == method and r["path"].startswith(prefix)
    ]


# --- the declared surface --------------------------------------------------------------------


def test_provider_satisfies_the_protocol_with_linkedin_limits_from_platforms_md() -> None:
    provider: Provider = LinkedInProvider(FakeNetwork("http://127.0.0.1:9").config("linkedin"))
    limits = provider.limits
    assert (provider.name, provider.uses_pkce) == ("linkedin", False)
    # What a freshly created app gets: no Community Management API scope, no restricted one.
    assert provider.scopes == ("openid", "profile", "email", "w_member_social")
    assert (limits.max_text, limits.text_counting) == (3000, TextCounting.CHARACTERS)
    assert (limits.max_images, limits.max_videos, limits.min_multi_images) == (20, 1, 2)
    assert not limits.requires_media
    assert not limits.mixed_media
    assert limits.image is not None
    assert limits.video is not None
    assert limits.image.content_types == {"image/jpeg", "image/png", "image/gif"}
    assert limits.image.max_size_bytes == 5 * 1024 * 1024
    assert limits.video.content_types == {"video/mp4"}
    assert limits.video.max_size_bytes == 500 * 1024 * 1024
    assert (limits.video.min_duration_s, limits.video.max_duration_s) == (3, 1800)
    assert limits.video.min_aspect == pytest.approx(1 / 2.4)
    assert limits.video.max_aspect == pytest.approx(2.4)


def test_options_default_to_public_with_reshares_and_refuse_unknown_fields() -> None:
    assert LinkedInOptions().model_dump() == {"visibility": "PUBLIC", "disable_reshare": False}
    assert LinkedInOptions(visibility="CONNECTIONS").visibility == "CONNECTIONS"
    with pytest.raises(ValidationError):
        LinkedInOptions.model_validate({"visibility": "FRIENDS"})
    with pytest.raises(ValidationError):
        LinkedInOptions.model_validate({"reply_settings": "following"})


def test_escaping_keeps_hashtags_raw_and_escapes_every_other_reserved_character() -> None:
    escaped = escape_little("Ship it (v2) #launch @team_a C# 50% *wow* #")
    assert escaped == r"Ship it \(v2\) #launch \@team\_a C\# 50% \*wow\* \#"
    assert unescape_little(escaped) == "Ship it (v2) #launch @team_a C# 50% *wow* #"


@given(st.text())
def test_any_text_escaped_by_the_adapter_reads_back_whole_on_linkedin(text: str) -> None:
    assert render_little(escape_little(text)) == text
    assert unescape_little(escape_little(text)) == text


# --- connecting ------------------------------------------------------------------------------


def test_authorization_url_asks_for_the_scopes_a_new_app_gets_without_pkce(
    linkedin: LinkedInProvider, fake: FakeNetwork
) -> None:
    url = linkedin.authorization_url(state="s1", redirect_uri=REDIRECT_URI, code_verifier=None)
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{fake.url}/oauth/v2/authorization"
    assert query["response_type"] == "code"
    assert query["state"] == "s1"
    assert query["scope"].split() == list(LinkedInProvider.scopes)
    assert "code_challenge" not in query


async def test_connect_gives_the_member_profile_and_a_60_day_token_with_refresh_in_partner_mode(
    linkedin: LinkedInProvider,
) -> None:
    [connection] = await connect(linkedin)
    profile, grant = connection.profile, connection.grant
    assert profile.external_id == "urn:li:person:yQ3dK9aPzR"
    assert (profile.username, profile.display_name) == ("sandbox-user", "Sandbox User")
    assert profile.avatar_url
    assert profile.avatar_url.endswith("/profile-displayphoto")
    assert grant.expires_in == 5_184_000
    assert grant.refresh_token
    assert grant.refresh_expires_in == pytest.approx(31_536_000, abs=5)
    assert grant.scopes == set(LinkedInProvider.scopes)


async def test_without_partner_mode_there_is_no_refresh_token_and_refresh_returns_none(
    linkedin: LinkedInProvider, fake: FakeNetwork
) -> None:
    settings(fake, partner_mode=False)
    [connection] = await connect(linkedin)
    assert connection.grant.refresh_token is None
    assert await linkedin.refresh(credentials(connection)) is None


async def test_refresh_keeps_the_refresh_token_and_the_expiry_of_the_first_grant(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    fake.control("POST", "/refresh-tokens/age", {"days": 59})
    grant = await linkedin.refresh(member)
    assert grant is not None
    assert grant.access_token != member.access_token
    assert grant.refresh_token == member.refresh_token  # LinkedIn doesn't rotate it
    assert grant.refresh_expires_in == pytest.approx(306 * 86_400, abs=5)
    assert grant.expires_in == 5_184_000
    again = await linkedin.refresh(member)  # the same refresh token still works
    assert again is not None
    assert again.refresh_expires_in == pytest.approx(grant.refresh_expires_in, abs=2)
    refreshed = replace(member, access_token=grant.access_token)
    assert (await linkedin.profile(refreshed)).external_id == member.external_id


async def test_refresh_with_an_expired_refresh_token_requires_reauth(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    assert member.refresh_token is not None
    fake.expire_tokens(member.refresh_token)
    with pytest.raises(ReauthRequired) as caught:
        await linkedin.refresh(member)
    assert member.refresh_token not in caught.value.message
    assert "refresh token is invalid" in caught.value.message


async def test_revoke_revokes_the_tokens_at_linkedin(
    linkedin: LinkedInProvider, member: Credentials
) -> None:
    assert await linkedin.revoke(member) is True
    with pytest.raises(ReauthRequired) as caught:
        await linkedin.profile(member)
    assert caught.value.code == "revoked"
    with pytest.raises(ReauthRequired):
        await linkedin.refresh(member)


async def test_profile_falls_back_to_the_member_id_without_a_vanity_name(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    settings(fake, vanity_name=None)
    profile = await linkedin.profile(member)
    assert (profile.username, profile.external_id) == ("yQ3dK9aPzR", "urn:li:person:yQ3dK9aPzR")


# --- publishing ------------------------------------------------------------------------------


async def test_publish_text_keeps_reserved_characters_and_hashtags_with_the_options(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    text = "Release (v2) is out! #launch @team_a [details] <soon> ~ | \\ {x} *bold*"
    options = {"visibility": "CONNECTIONS", "disable_reshare": True}
    published = await linkedin.publish(member, PublishRequest(text=text, options=options))
    [post] = fake.published()
    assert post["id"] == published.external_id
    assert published.external_id.startswith("urn:li:share:")
    assert post["text"] == text
    assert post["kind"] == "text"
    assert "#launch" in post["commentary"]
    assert "\\(v2\\)" in post["commentary"]
    assert (post["visibility"], post["reshare_disabled"]) == ("CONNECTIONS", True)
    assert published.permalink == f"{fake.url}/feed/update/{published.external_id}"
    async with httpx.AsyncClient(verify=tls_context()) as browser:
        page = await browser.get(published.permalink)
    assert page.status_code == 200
    assert "Release (v2) is out!" in page.text


async def test_publish_single_image_uploads_then_polls_until_available(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    image = media.image(40, 30)
    published = await linkedin.publish(member, PublishRequest(text="One view", media=[image]))
    [post] = fake.published()
    assert post["kind"] == "image"
    assert post["id"] == published.external_id
    [uploaded] = post["media"]
    assert uploaded["sha256"] == sha256_of(image, media)
    assert uploaded["type"] == "image/png"
    assert len(paths(fake, "GET", "/rest/images/")) >= 1
    assert paths(fake, "PUT", "/dms-uploads/")


async def test_publish_several_images_as_a_multi_image_post(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    images = [media.image(20, 20), media.image(30, 20), media.image(20, 30)]
    published = await linkedin.publish(member, PublishRequest(text="Album", media=images))
    [post] = fake.published()
    assert post["kind"] == "multi_image"
    assert published.external_id.startswith("urn:li:ugcPost:")
    assert [m["sha256"] for m in post["media"]] == [sha256_of(i, media) for i in images]


async def test_publish_video_uploads_every_part_finalizes_and_polls_until_available(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    settings(fake, video_part_bytes=1024 * 1024)
    video = media.video(size=2 * 1024 * 1024 + 123)
    published = await linkedin.publish(member, PublishRequest(text="Watch", media=[video]))
    [post] = fake.published()
    assert post["kind"] == "video"
    assert post["id"] == published.external_id
    [uploaded] = post["media"]
    assert (uploaded["size"], uploaded["sha256"]) == (video.size, sha256_of(video, media))
    assert len(paths(fake, "PUT", "/dms-uploads/")) == 3
    assert len(paths(fake, "GET", "/rest/videos/")) == 3  # PROCESSING twice, then AVAILABLE


async def test_unreadable_image_status_is_waited_out_instead_of_polled(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    settings(fake, image_status_forbidden=True)
    await linkedin.publish(member, PublishRequest(text="Patience", media=[media.image(10, 10)]))
    assert len(fake.published()) == 1
    assert len(paths(fake, "GET", "/rest/images/")) == 1


async def test_a_video_linkedin_cannot_process_is_permanent_with_its_reason(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    not_mp4 = media.item(MediaKind.VIDEO, b"\x00" * 4096, "video/mp4")
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="Broken", media=[not_mp4]))
    assert "MP4" in caught.value.message
    assert caught.value.code == "processing_failed"
    assert fake.published() == []


async def test_a_video_still_processing_at_the_poll_timeout_is_retryable(
    fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    settings(fake, processing_polls=10_000)
    impatient = LinkedInProvider(replace(fake.config("linkedin"), poll_timeout_s=0.05))
    with pytest.raises(Retryable) as caught:
        await impatient.publish(member, PublishRequest(text="Slow", media=[media.video(4096)]))
    assert caught.value.code == "processing"
    assert fake.published() == []


async def test_images_and_a_video_together_are_refused_before_anything_is_sent(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    mixed = [media.image(10, 10), media.video(4096)]
    before = len(fake.requests())
    with pytest.raises(Permanent):
        await linkedin.publish(member, PublishRequest(text="Mixed", media=mixed))
    assert len(fake.requests()) == before


async def test_twenty_one_images_are_refused_by_linkedin_as_permanent(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    images = [media.image(8, 8) for _ in range(21)]
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="Too many", media=images))
    assert "2 to 20" in caught.value.message
    assert fake.published() == []


async def test_text_over_3000_characters_is_refused_by_linkedin_as_permanent(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="é" * 3001))
    assert "exceeded the maximum allowed (3000 characters)" in caught.value.message
    assert fake.published() == []


async def test_the_same_post_twice_is_a_permanent_duplicate(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    first = await linkedin.publish(member, PublishRequest(text="Only once"))
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="Only once"))
    assert caught.value.message == f"LinkedIn: Content is a duplicate of {first.external_id}"
    assert len(fake.published()) == 1


# --- reading back ----------------------------------------------------------------------------


async def test_find_recent_lists_the_members_posts_newest_first_with_their_text(
    approved: LinkedInProvider, reader: Credentials
) -> None:
    linkedin, member = approved, reader
    since = datetime.now(UTC) - timedelta(minutes=1)
    older = await linkedin.publish(member, PublishRequest(text="First (draft)"))
    newer = await linkedin.publish(member, PublishRequest(text="Second #post"))
    recent = await linkedin.find_recent(member, since=since)
    assert [post.external_id for post in recent] == [newer.external_id, older.external_id]
    assert [post.text for post in recent] == ["Second #post", "First (draft)"]
    assert recent[0].permalink == newer.permalink
    assert recent[0].created_at is not None
    assert await linkedin.find_recent(member, since=datetime.now(UTC) + timedelta(hours=1)) == []


async def test_metrics_map_linkedin_analytics_to_t21_names_and_none_without_data(
    approved: LinkedInProvider, fake: FakeNetwork, media: MediaServer, reader: Credentials
) -> None:
    linkedin, member = approved, reader
    share = await linkedin.publish(member, PublishRequest(text="Counted"))
    album = await linkedin.publish(
        member, PublishRequest(text="Album", media=[media.image(9, 9), media.image(9, 8)])
    )
    fresh = await linkedin.publish(member, PublishRequest(text="Too new"))
    numbers = {"IMPRESSION": 120, "MEMBERS_REACHED": 80, "RESHARE": 3, "REACTION": 14}
    fake.control("POST", "/analytics", {"post": share.external_id, **numbers, "COMMENT": 5})
    fake.control("POST", "/analytics", {"post": album.external_id, "IMPRESSION": 9})
    ids = [share.external_id, album.external_id, fresh.external_id]
    metrics = await linkedin.metrics(member, ids)
    assert metrics[share.external_id] == PostMetrics(
        impressions=120, reach=80, likes=14, comments=5, shares=3
    )
    assert metrics[album.external_id] == PostMetrics(impressions=9)
    assert metrics[fresh.external_id] is None
    queried = [r["query"] for r in fake.requests() if r["path"].endswith("PostAnalytics")]
    assert any("entity=(ugc:urn%3Ali%3AugcPost%3A" in query for query in queried)


async def test_without_r_member_social_find_recent_says_it_cannot_check_without_asking(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    await linkedin.publish(member, PublishRequest(text="Did it go out?"))
    assert linkedin.find_recent_blocker(member) is not None
    assert "r_member_social" in (linkedin.find_recent_blocker(member) or "")
    before = len(paths(fake, "GET", "/rest/posts"))
    with pytest.raises(NotPermitted) as caught:
        await linkedin.find_recent(member, since=datetime.now(UTC) - timedelta(minutes=5))
    assert caught.value.code == "cannot_check"
    assert len(paths(fake, "GET", "/rest/posts")) == before  # nothing asked


async def test_linkedin_refuses_the_author_query_to_a_token_with_only_the_posting_scope(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    # The old adapter's request, with a token granted w_member_social only: LinkedIn says 403.
    headers = {"Authorization": f"Bearer {member.access_token}"} | API_VERSION_HEADERS
    async with httpx.AsyncClient(verify=tls_context(), base_url=fake.url) as http:
        answer = await http.get(
            f"/rest/posts?q=author&author={quote(member.external_id, safe='')}",
            headers=headers | {"X-RestLi-Method": "FINDER"},
        )
    assert answer.status_code == 403
    assert answer.json()["code"] == "ACCESS_DENIED"
    # Scopes unknown (an account connected before they were kept): tried, and the refusal
    # still says "cannot check" rather than a generic failure.
    unknown = replace(member, scopes=frozenset())
    assert linkedin.find_recent_blocker(unknown) is None
    with pytest.raises(NotPermitted) as caught:
        await linkedin.find_recent(unknown, since=datetime.now(UTC) - timedelta(minutes=5))
    assert caught.value.code == "cannot_check"


def test_an_organization_page_needs_r_organization_social_to_be_checked(
    linkedin: LinkedInProvider,
) -> None:
    page = Credentials(
        access_token="t",
        external_id="urn:li:organization:2414183",
        scopes=frozenset({"w_organization_social", "r_organization_social"}),
    )
    assert linkedin.find_recent_blocker(page) is None
    without = replace(page, scopes=frozenset({"w_organization_social"}))
    assert "r_organization_social" in (linkedin.find_recent_blocker(without) or "")


async def test_metrics_without_the_analytics_scope_are_skipped_with_the_reason(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    post = await linkedin.publish(member, PublishRequest(text="Counted?"))
    with pytest.raises(NotPermitted) as caught:
        await linkedin.metrics(member, [post.external_id])
    assert "r_member_postAnalytics" in caught.value.message
    assert paths(fake, "GET", "/rest/memberCreatorPostAnalytics") == []


async def test_an_app_without_community_management_is_refused_the_analytics_scope_at_sign_in(
    fake: FakeNetwork, linkedin: LinkedInProvider
) -> None:
    # What T21 asked for before: the analytics scope at every connection.
    old = LinkedInProvider(
        fake.config("linkedin", scopes=(*LinkedInProvider.scopes, "r_member_postAnalytics"))
    )
    url = old.authorization_url(state="s1", redirect_uri=REDIRECT_URI, code_verifier=None)
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.get(url)
    back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    assert back["error"] == "unauthorized_scope_error"
    assert "r_member_postAnalytics" in back["error_description"]
    assert "code" not in back
    # The defaults connect.
    [connection] = await connect(linkedin)
    assert connection.grant.scopes == {"openid", "profile", "email", "w_member_social"}


async def test_linkedin_refuses_a_post_body_that_is_not_sent_as_json(
    fake: FakeNetwork, member: Credentials
) -> None:
    headers = {"Authorization": f"Bearer {member.access_token}"} | API_VERSION_HEADERS
    body = {"author": member.external_id, "commentary": "Form?", "visibility": "PUBLIC"}
    async with httpx.AsyncClient(verify=tls_context(), base_url=fake.url) as http:
        answer = await http.post("/rest/posts", data=body, headers=headers)
    assert answer.status_code == 415
    assert fake.published() == []


async def test_linkedin_refuses_a_rest_call_without_the_restli_protocol_header(
    fake: FakeNetwork, member: Credentials
) -> None:
    headers = {
        "Authorization": f"Bearer {member.access_token}",
        "LinkedIn-Version": API_VERSION_HEADERS["LinkedIn-Version"],
    }
    body = {"initializeUploadRequest": {"owner": member.external_id}}
    async with httpx.AsyncClient(verify=tls_context(), base_url=fake.url) as http:
        answer = await http.post("/rest/images?action=initializeUpload", json=body, headers=headers)
    assert answer.status_code == 400
    assert "X-Restli-Protocol-Version" in answer.json()["message"]


# --- failures --------------------------------------------------------------------------------


async def test_the_daily_post_limit_is_retryable_after_next_utc_midnight(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    settings(fake, daily_post_limit=1)
    await linkedin.publish(member, PublishRequest(text="Today's only post"))
    with pytest.raises(Retryable) as caught:
        await linkedin.publish(member, PublishRequest(text="One too many"))
    assert caught.value.after == pytest.approx(seconds_until_utc_midnight(), abs=5)
    assert "MEMBER DAY limit" in caught.value.message
    assert len(fake.published()) == 1


async def test_a_429_with_retry_after_is_retryable_after_that_many_seconds(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    body = {
        "status": 429,
        "serviceErrorCode": 101,
        "code": "TOO_MANY_REQUESTS",
        "message": "Too many requests",
    }
    fake.inject(status=429, body=body, headers={"Retry-After": "42"}, path="^/rest/posts$")
    with pytest.raises(Retryable) as caught:
        await linkedin.publish(member, PublishRequest(text="Throttled"))
    assert caught.value.after == pytest.approx(42)
    assert fake.published() == []


async def test_a_server_error_on_a_media_upload_is_retryable_and_nothing_is_published(
    linkedin: LinkedInProvider, fake: FakeNetwork, media: MediaServer, member: Credentials
) -> None:
    fake.inject(
        status=500,
        body={"message": "Internal Server Error", "status": 500},
        method="PUT",
        path="^/dms-uploads/",
    )
    with pytest.raises(Retryable):
        await linkedin.publish(member, PublishRequest(text="Pic", media=[media.image(9, 9)]))
    assert fake.published() == []


async def test_a_server_error_on_the_post_request_is_ambiguous(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    fake.inject(
        status=503,
        body={"message": "Service Unavailable", "status": 503},
        method="POST",
        path="^/rest/posts$",
    )
    with pytest.raises(Ambiguous) as caught:
        await linkedin.publish(member, PublishRequest(text="Did it?"))
    assert "Service Unavailable" in caught.value.message


async def test_a_lost_answer_to_the_post_is_ambiguous_and_find_recent_finds_the_post(
    fake: FakeNetwork, approved: LinkedInProvider, reader: Credentials
) -> None:
    linkedin, member = approved, reader
    since = datetime.now(UTC) - timedelta(minutes=1)
    hasty = LinkedInProvider(fake.config("linkedin", timeout_s=0.3))
    fake.inject(status=200, method="POST", path="^/rest/posts$", lose_response=True, delay_s=1.0)
    with pytest.raises(Ambiguous):
        await hasty.publish(member, PublishRequest(text="Lost in transit"))
    [post] = fake.published()
    recent = await linkedin.find_recent(member, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(post["id"], "Lost in transit")]


@pytest.mark.parametrize(("act", "code"), [("expire", "expired"), ("revoke", "revoked")])
async def test_an_expired_or_revoked_token_requires_reauth(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials, act: str, code: str
) -> None:
    (fake.expire_tokens if act == "expire" else fake.revoke_tokens)(member.access_token)
    with pytest.raises(ReauthRequired) as caught:
        await linkedin.publish(member, PublishRequest(text="Locked out"))
    assert caught.value.code == code
    assert member.access_token not in caught.value.message
    assert fake.published() == []


async def test_a_403_for_a_scope_the_member_never_granted_requires_reauth_else_is_permanent(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    denied = {
        "status": 403,
        "serviceErrorCode": 100,
        "code": "ACCESS_DENIED",
        "message": "Not enough permissions to access: partnerApiPostsExternal.CREATE",
    }
    fake.inject(status=403, body=denied, method="POST", path="^/rest/posts$", count=2)
    narrower = replace(member, scopes=frozenset({"openid", "profile"}))
    with pytest.raises(ReauthRequired):
        await linkedin.publish(narrower, PublishRequest(text="No scope"))
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="App not approved"))
    assert "Not enough permissions" in caught.value.message


async def test_a_retired_api_version_is_refused_with_426_and_is_permanent(
    linkedin: LinkedInProvider, fake: FakeNetwork, member: Credentials
) -> None:
    auth = {"Authorization": f"Bearer {member.access_token}"}
    async with httpx.AsyncClient(verify=tls_context(), base_url=fake.url) as http:
        retired = await http.get(
            "/rest/posts?q=author",
            headers=auth | API_VERSION_HEADERS | {"LinkedIn-Version": "202505"},
        )
        missing = await http.get("/rest/posts?q=author", headers=auth)
    assert retired.status_code == 426
    assert retired.json() == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 20250501 is not active",
    }
    assert (missing.status_code, missing.json()["code"]) == (400, "VERSION_MISSING")
    fake.inject(status=426, body=retired.json(), path="^/rest/posts$")
    with pytest.raises(Permanent) as caught:
        await linkedin.publish(member, PublishRequest(text="Old version"))
    assert caught.value.code == "version_retired"


async def test_the_legacy_ugc_post_flow_publishes_with_an_x_restli_id(
    fake: FakeNetwork, member: Credentials
) -> None:
    mechanism = "com.linkedin.digitalmedia.uploading.MediaUploadHttpRequest"
    register_request = {
        "owner": member.external_id,
        "recipes": ["urn:li:digitalmediaRecipe:feedshare-video"],
    }
    async with httpx.AsyncClient(
        verify=tls_context(),
        base_url=fake.url,
        headers={"Authorization": f"Bearer {member.access_token}"},
    ) as http:
        registered = await http.post(
            "/v2/assets?action=registerUpload", json={"registerUploadRequest": register_request}
        )
        asset = registered.json()["value"]
        upload_url = asset["uploadMechanism"][mechanism]["uploadUrl"]
        assert (await http.put(upload_url, content=mp4_bytes(2048))).status_code == 201
        share = {
            "shareCommentary": {"text": "Legacy (plain) text"},
            "shareMediaCategory": "VIDEO",
            "media": [{"status": "READY", "media": asset["asset"]}],
        }
        created = await http.post(
            "/v2/ugcPosts",
            json={
                "author": member.external_id,
                "lifecycleState": "PUBLISHED",
                "specificContent": {"com.linkedin.ugc.ShareContent": share},
                "visibility": {"com.linkedin.ugc.MemberNetworkVisibility": "PUBLIC"},
            },
        )
    assert created.status_code == 201
    [post] = fake.published()
    assert created.headers["x-restli-id"] == post["id"]
    assert post["text"] == "Legacy (plain) text"


def test_the_scopes_asked_for_come_from_the_networks_setting(settings_factory: Any) -> None:
    settings = settings_factory(
        linkedin_scopes="openid, profile w_member_social r_member_postAnalytics",
        linkedin_client_id="app-id",
    )
    config = platform_config(settings, "linkedin", None)
    assert config is not None
    assert config.scopes == ("openid", "profile", "w_member_social", "r_member_postAnalytics")
    url = LinkedInProvider(config).authorization_url(
        state="s", redirect_uri=REDIRECT_URI, code_verifier=None
    )
    assert parse_qs(urlsplit(url).query)["scope"] == [
        "openid profile w_member_social r_member_postAnalytics"
    ]
    default = platform_config(settings_factory(linkedin_client_id="app-id"), "linkedin", None)
    assert default is not None
    assert default.scopes == ()
    assert default.requested_scopes(LinkedInProvider.scopes) == LinkedInProvider.scopes
