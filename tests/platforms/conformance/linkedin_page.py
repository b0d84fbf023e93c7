"""LinkedIn's reference examples for pages as exchanges: the member's page roles, a page's
lookup and its share statistics, with the page each comes from. Posting and reading as a page
are LinkedIn's own examples (they are authored by organizations) and come from
`tests.platforms.conformance.linkedin`. Where a page lists fields without sample values, the
values are illustrative and the comment says so."""

from __future__ import annotations

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply
from tests.platforms.conformance.linkedin import ACCESS_TOKEN, REST_HEADERS

ACCESS_CONTROL = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/"
    "organization-access-control-by-role"
)
LOOKUP = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/"
    "organization-lookup-api"
)
SHARE_STATISTICS = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/organizations/"
    "share-statistics"
)
CODE_FLOW = (
    "https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow"
)

PAGE = "urn:li:organization:2414183"
MEMBER = "urn:li:person:yQ3dK9aPzR"  # illustrative

# "Exchange Authorization Code for an Access Token": the form is the page's; the code, and the
# scopes granted (LinkedIn lists them comma-separated), are illustrative.
CODE = "AQTQmah11lalyH65DAIivsjsAQV5P-1VTVVebnLl_SCiyMXoIjDmJ4s6rO1VBGP5Hx2542KaR_eNawkrWiC"
TOKEN = Exchange(
    name="exchange the authorization code",
    source=CODE_FLOW,
    expect=Expect(
        "POST",
        "/oauth/v2/accessToken",
        form={
            "grant_type": "authorization_code",
            "code": CODE,
            "redirect_uri": ANY,
            "client_id": "t21-sandbox",
            "client_secret": "t21-sandbox-secret",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        exact=True,
    ),
    reply=Reply(
        body={
            "access_token": ACCESS_TOKEN,
            "expires_in": 5184000,
            "scope": "r_organization_social,rw_organization_admin,w_organization_social",
        }
    ),
)

# "Find a Member's Organization Access Control Information": q=roleAssignee, optional `role` and
# `state`; `start`/`count` page the finder (learn.microsoft.com/en-us/linkedin/shared/
# api-guide/concepts/pagination). The answer's second element is a role that may not post
# (ANALYST): T21 makes no account of it. Values illustrative.
ACLS = Exchange(
    name="find the member's page roles",
    source=ACCESS_CONTROL,
    expect=Expect(
        "GET",
        "/rest/organizationAcls",
        query={"q": "roleAssignee", "state": "APPROVED"},
        extra=frozenset({"start", "count"}),
        headers=REST_HEADERS,
    ),
    reply=Reply(
        body={
            "paging": {"count": 10, "start": 0, "links": []},
            "elements": [
                {"roleAssignee": MEMBER, "state": "APPROVED", "role": "ADMINISTRATOR",
                 "organization": PAGE},
                {"roleAssignee": MEMBER, "state": "APPROVED", "role": "ANALYST",
                 "organization": "urn:li:organization:10002687"},
            ],
        }
    ),
)  # fmt: skip

# "Retrieve an Organization": GET /rest/organizations/{id}; the answer's fields are the lookup
# page's (id, localizedName, vanityName), values illustrative.
LOOKUP_PAGE = Exchange(
    name="look up the page",
    source=LOOKUP,
    expect=Expect("GET", "/rest/organizations/2414183", headers=REST_HEADERS, exact=True),
    reply=Reply(
        body={
            "id": 2414183,
            "localizedName": "LinkedIn Developers",
            "vanityName": "linkedin-developers",
            "name": {
                "localized": {"en_US": "LinkedIn Developers"},
                "preferredLocale": {"country": "US", "language": "en"},
            },
        }
    ),
)

# "Retrieve Statistics for Specific Shares": lifetime numbers (no timeIntervals) for listed
# shares and ugcPosts, each a Rest.li List of encoded URNs. The counts are illustrative.
SHARE = "urn:li:share:1000000"
UGC_POST = "urn:li:ugcPost:1000001"
STATISTICS = Exchange(
    name="share statistics of two posts",
    source=SHARE_STATISTICS,
    expect=Expect(
        "GET",
        "/rest/organizationalEntityShareStatistics",
        query={
            "q": "organizationalEntity",
            "organizationalEntity": PAGE,
            "shares": f"List({SHARE})",
            "ugcPosts": f"List({UGC_POST})",
        },
        headers=REST_HEADERS,
        exact=True,
    ),
    reply=Reply(
        body={
            "paging": {"count": 10, "start": 0, "links": []},
            "elements": [
                {
                    "organizationalEntity": PAGE,
                    "share": SHARE,
                    "totalShareStatistics": {
                        "uniqueImpressionsCount": 2,
                        "shareCount": 0,
                        "engagement": 0.25,
                        "clickCount": 1,
                        "likeCount": 0,
                        "impressionCount": 4,
                        "commentCount": 0,
                    },
                },
                {
                    "organizationalEntity": PAGE,
                    "ugcPost": UGC_POST,
                    "totalShareStatistics": {
                        "uniqueImpressionsCount": 50,
                        "shareCount": 2,
                        "engagement": 0.1,
                        "clickCount": 3,
                        "likeCount": 7,
                        "impressionCount": 80,
                        "commentCount": 1,
                    },
                },
            ],
        }
    ),
)
