"""The LinkedIn Pages adapter against the LinkedIn fake over real HTTP: one account per page the
member may post as, posts authored by the page, reading them back, the page's share statistics,
and LinkedIn's refusals (roles, scopes, limits, tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from t21.core.outside import Ambiguous, NotPermitted, Permanent, ReauthRequired, Retryable
from t21.core.tls import tls_context
from t21.platforms.base import Credentials, PostMetrics, Provider, PublishRequest
from t21.platforms.linkedin import LinkedInProvider
from t21.platforms.linkedin.wire import seconds_until_utc_midnight
from t21.platforms.linkedin_page import LinkedInPageProvider
from t21.sandbox.linkedin_page import create_linkedin_page_app
from tests.platforms.harness import (
    REDIRECT_URI,
    FakeNetwork,
    MediaServer,
    connect,
    credentials,
    serve,
)

PAGE = "urn:li:organization:2414183"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_linkedin_page_app()) as fake:
        yield fake


@pytest.fixture
def pages(fake: FakeNetwork) -> LinkedInPageProvider:
    return LinkedInPageProvider(fake.config("linkedin_page"))


@pytest.fixture
async def page(pages: LinkedInPageProvider) -> Credentials:
    [connection] = await connect(pages)
    return credentials(connection)


def role(fake: FakeNetwork, page_id: str, held: str | None, name: str | None = None) -> None:
    fake.control("POST", "/organizations", {"id": page_id, "role": held, "name": name})


# --- the declared surface --------------------------------------------------------------------


def test_provider_satisfies_the_protocol_and_declares_no_threads() -> None:
    provider: Provider = LinkedInPageProvider(
        FakeNetwork("http://127.0.0.1:9").config("linkedin_page")
    )
    assert provider.name == "linkedin_page"
    assert provider.limits.max_text == 3000
    assert provider.limits.max_images == 20
    assert LinkedInPageProvider.supports_threads is False


def test_authorization_url_asks_for_the_organization_scopes(pages: LinkedInPageProvider) -> None:
    url = pages.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_verifier=None)
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["w_organization_social r_organization_social rw_organization_admin"]
    assert "code_challenge" not in query


async def test_a_page_post_visible_to_connections_is_refused_before_anything_is_sent(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    request = PublishRequest(text="Hi", options={"visibility": "CONNECTIONS"})
    with pytest.raises(Permanent) as caught:
        await pages.publish(page, request)
    assert caught.value.code == "invalid_options"
    assert fake.sends() == []


# --- connecting ----------------------------------------------------------------------------------


async def test_connect_gives_one_account_per_page_the_member_may_post_as(
    pages: LinkedInPageProvider, fake: FakeNetwork
) -> None:
    role(fake, "5550001", "CONTENT_ADMINISTRATOR", "Second Page")
    role(fake, "5550002", "ANALYST", "Watched Page")  # may read numbers, not post
    connections = await connect(pages)
    by_page = {c.profile.external_id: c for c in connections}
    assert set(by_page) == {PAGE, "urn:li:organization:5550001"}
    first = by_page[PAGE]
    assert (first.profile.display_name, first.profile.username) == (
        "Sandbox Company",
        "sandbox-company",
    )
    assert first.capabilities == {"role": "ADMINISTRATOR"}
    assert by_page["urn:li:organization:5550001"].capabilities == {"role": "CONTENT_ADMINISTRATOR"}
    # LinkedIn's tokens are the member's: every page of the sign-in holds the same one.
    assert len({c.grant.access_token for c in connections}) == 1
    assert first.grant.scopes == {
        "w_organization_social",
        "r_organization_social",
        "rw_organization_admin",
    }
    assert first.grant.refresh_token


async def test_a_member_who_administers_no_page_cannot_connect(
    pages: LinkedInPageProvider, fake: FakeNetwork
) -> None:
    role(fake, "2414183", None)
    with pytest.raises(Permanent) as caught:
        await connect(pages)
    assert caught.value.code == "no_pages"


def test_an_app_without_community_management_is_refused_the_page_scopes(
    pages: LinkedInPageProvider, fake: FakeNetwork
) -> None:
    fake.control("POST", "/settings", {"app_scopes": ["openid", "profile", "w_member_social"]})
    url = pages.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_verifier=None)
    answer = httpx.get(url, follow_redirects=False)
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["error"] == ["unauthorized_scope_error"]


async def test_profile_reads_the_page_and_refresh_keeps_the_refresh_token(
    pages: LinkedInPageProvider, page: Credentials
) -> None:
    profile = await pages.profile(page)
    assert (profile.external_id, profile.display_name) == (PAGE, "Sandbox Company")
    grant = await pages.refresh(page)
    assert grant is not None
    assert grant.refresh_token == page.refresh_token


async def test_disconnecting_a_page_leaves_the_shared_member_token_alive(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    assert await pages.revoke(page) is False
    assert not any(r["path"] == "/oauth/v2/revoke" for r in fake.requests())
    await pages.publish(page, PublishRequest(text="Still connected"))


# --- publishing ----------------------------------------------------------------------------------


async def test_publish_text_as_the_page_and_read_it_back(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    published = await pages.publish(
        page,
        PublishRequest(text="We're hiring (remote) #jobs", options={"visibility": "LOGGED_IN"}),
    )
    [post] = fake.published()
    assert (post["author"], post["text"], post["visibility"]) == (
        PAGE,
        "We're hiring (remote) #jobs",
        "LOGGED_IN",
    )
    assert published.external_id == post["id"]
    [recent] = await pages.find_recent(page, since=since)
    assert (recent.external_id, recent.text) == (post["id"], "We're hiring (remote) #jobs")
    assert published.permalink is not None
    async with httpx.AsyncClient(verify=tls_context()) as client:
        shown = await client.get(published.permalink, timeout=10)
    assert "Sandbox Company" in shown.text


async def test_publish_an_image_uploaded_by_the_page(
    pages: LinkedInPageProvider, fake: FakeNetwork, media: MediaServer, page: Credentials
) -> None:
    await pages.publish(page, PublishRequest(text="Our office", media=[media.image(40, 30)]))
    [post] = fake.published()
    # LinkedIn (and the fake) refuse a post whose media another owner uploaded: the page did.
    assert (post["kind"], post["author"]) == ("image", PAGE)
    [uploaded] = post["media"]
    assert uploaded["type"] == "image/png"


async def test_a_member_who_lost_the_page_role_is_refused_permanently(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    role(fake, "2414183", "ANALYST")
    with pytest.raises(Permanent) as caught:
        await pages.publish(page, PublishRequest(text="Not any more"))
    assert caught.value.code == "forbidden"
    assert fake.published() == []


async def test_a_member_token_without_the_organization_scope_cannot_post_as_the_page(
    fake: FakeNetwork,
) -> None:
    member = LinkedInProvider(fake.config("linkedin"))
    [connection] = await connect(member)
    held = credentials(connection)
    as_page = Credentials(access_token=held.access_token, external_id=PAGE, scopes=held.scopes)
    with pytest.raises(ReauthRequired) as caught:
        await LinkedInPageProvider(fake.config("linkedin_page")).publish(
            as_page, PublishRequest(text="Sneaky")
        )
    assert caught.value.code == "missing_scope"
    assert fake.published() == []


async def test_the_daily_limit_is_retryable_after_next_utc_midnight(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    fake.control("POST", "/settings", {"daily_post_limit": 1})
    await pages.publish(page, PublishRequest(text="Today's only post"))
    with pytest.raises(Retryable) as caught:
        await pages.publish(page, PublishRequest(text="One too many"))
    assert caught.value.after == pytest.approx(seconds_until_utc_midnight(), abs=5)
    assert len(fake.published()) == 1


async def test_a_revoked_token_requires_reauth(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    fake.revoke_tokens(page.access_token)
    with pytest.raises(ReauthRequired) as caught:
        await pages.publish(page, PublishRequest(text="Locked out"))
    assert caught.value.code == "revoked"
    assert page.access_token not in caught.value.message


async def test_a_lost_answer_is_ambiguous_and_find_recent_finds_the_one_post(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    hasty = LinkedInPageProvider(fake.config("linkedin_page", timeout_s=0.3))
    fake.inject(status=200, method="POST", path="^/rest/posts$", lose_response=True, delay_s=1.0)
    with pytest.raises(Ambiguous):
        await hasty.publish(page, PublishRequest(text="Lost in transit"))
    [post] = fake.published()
    recent = await pages.find_recent(page, since=since)
    assert [(p.external_id, p.text) for p in recent] == [(post["id"], "Lost in transit")]


async def test_without_r_organization_social_find_recent_says_it_cannot_check(
    pages: LinkedInPageProvider, page: Credentials
) -> None:
    limited = Credentials(
        access_token=page.access_token,
        external_id=PAGE,
        scopes=frozenset({"w_organization_social"}),
    )
    assert pages.find_recent_blocker(limited) is not None
    with pytest.raises(NotPermitted):
        await pages.find_recent(limited, since=datetime.now(UTC))


# --- numbers -------------------------------------------------------------------------------------


async def test_metrics_come_from_the_page_share_statistics(
    pages: LinkedInPageProvider, fake: FakeNetwork, media: MediaServer, page: Credentials
) -> None:
    share = await pages.publish(page, PublishRequest(text="Counted"))
    album = await pages.publish(
        page, PublishRequest(text="Album", media=[media.image(9, 9), media.image(9, 8)])
    )
    numbers = {"IMPRESSION": 120, "MEMBERS_REACHED": 80, "RESHARE": 3, "REACTION": 14}
    fake.control("POST", "/analytics", {"post": share.external_id, **numbers, "COMMENT": 5})
    metrics = await pages.metrics(page, [share.external_id, album.external_id])
    assert metrics[share.external_id] == PostMetrics(
        impressions=120, reach=80, likes=14, comments=5, shares=3, clicks=0
    )
    assert metrics[album.external_id] == PostMetrics(
        impressions=0, reach=0, likes=0, comments=0, shares=0, clicks=0
    )
    [query] = [r["query"] for r in fake.requests() if "ShareStatistics" in r["path"]]
    assert "shares=List(urn%3Ali%3Ashare%3A" in query
    assert "ugcPosts=List(urn%3Ali%3AugcPost%3A" in query


async def test_metrics_need_the_administrator_role(
    pages: LinkedInPageProvider, fake: FakeNetwork, page: Credentials
) -> None:
    share = await pages.publish(page, PublishRequest(text="Counted"))
    role(fake, "2414183", "CONTENT_ADMINISTRATOR")
    with pytest.raises(Permanent) as caught:
        await pages.metrics(page, [share.external_id])
    assert caught.value.code == "forbidden"


async def test_metrics_without_rw_organization_admin_are_skipped_with_the_reason(
    pages: LinkedInPageProvider, page: Credentials
) -> None:
    limited = Credentials(
        access_token=page.access_token,
        external_id=PAGE,
        scopes=frozenset({"w_organization_social"}),
    )
    with pytest.raises(NotPermitted) as caught:
        await pages.metrics(limited, ["urn:li:share:1"])
    assert "rw_organization_admin" in caught.value.message
