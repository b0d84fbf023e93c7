"""The LinkedIn Pages adapter replayed against LinkedIn's own reference examples: the page
roles, the page lookup, the share statistics, and posting and reading as a page."""

from __future__ import annotations

from datetime import UTC, datetime

from t21.platforms.base import Credentials, PostMetrics, PublishRequest
from t21.platforms.linkedin_page import LinkedInPageProvider
from tests.platforms.conformance import linkedin, linkedin_page
from tests.platforms.conformance.harness import Replay, replay
from tests.platforms.harness import REDIRECT_URI, FakeNetwork

SCOPES = frozenset({"w_organization_social", "r_organization_social", "rw_organization_admin"})


def _provider(served: Replay) -> LinkedInPageProvider:
    return LinkedInPageProvider(FakeNetwork(served.url).config("linkedin_page"))


def _page(urn: str) -> Credentials:
    return Credentials(access_token=linkedin.ACCESS_TOKEN, external_id=urn, scopes=SCOPES)


def test_every_exchange_names_the_reference_page_it_comes_from() -> None:
    exchanges = [
        linkedin_page.TOKEN,
        linkedin_page.ACLS,
        linkedin_page.LOOKUP_PAGE,
        linkedin_page.STATISTICS,
        linkedin.TEXT_POST,
        linkedin.FIND_BY_AUTHOR,
    ]
    assert len(exchanges) >= 5
    assert all(e.source.startswith("https://learn.microsoft.com/") for e in exchanges)


async def test_connecting_lists_the_pages_the_member_may_post_as_and_looks_each_up() -> None:
    exchanges = (linkedin_page.TOKEN, linkedin_page.ACLS, linkedin_page.LOOKUP_PAGE)
    with replay(*exchanges) as served:
        connections = await _provider(served).exchange_code(
            code=linkedin_page.CODE,
            redirect_uri=REDIRECT_URI,
            code_verifier=None,
        )
    served.check()
    [connection] = connections
    assert connection.profile.external_id == linkedin_page.PAGE
    assert connection.profile.display_name == "LinkedIn Developers"
    assert connection.profile.username == "linkedin-developers"
    assert connection.capabilities == {"role": "ADMINISTRATOR"}
    assert connection.grant.scopes == SCOPES


async def test_metrics_read_the_documented_share_statistics_of_shares_and_ugc_posts() -> None:
    with replay(linkedin_page.STATISTICS) as served:
        numbers = await _provider(served).metrics(
            _page(linkedin_page.PAGE), [linkedin_page.SHARE, linkedin_page.UGC_POST]
        )
    served.check()
    assert numbers[linkedin_page.SHARE] == PostMetrics(
        impressions=4, reach=2, likes=0, comments=0, shares=0, clicks=1
    )
    assert numbers[linkedin_page.UGC_POST] == PostMetrics(
        impressions=80, reach=50, likes=7, comments=1, shares=2, clicks=3
    )


async def test_a_page_post_is_the_documented_organization_text_post() -> None:
    with replay(linkedin.TEXT_POST) as served:
        published = await _provider(served).publish(
            _page(linkedin.AUTHOR), PublishRequest(text="Sample text Post")
        )
    served.check()
    assert published.external_id == "urn:li:share:6844785523593134080"


async def test_find_recent_reads_the_pages_posts_with_the_author_finder() -> None:
    with replay(linkedin.FIND_BY_AUTHOR) as served:
        found = await _provider(served).find_recent(
            _page(linkedin.AUTHOR), since=datetime(2021, 9, 1, tzinfo=UTC), limit=5
        )
    served.check()
    [post] = found
    assert (post.external_id, post.text) == ("urn:li:share:6844785523593134080", "Sample text Post")
