"""LinkedIn's reference examples as exchanges: what LinkedIn's documentation shows a client
sending and LinkedIn answering, with the page each comes from. Request shapes (method, path,
query, required headers, body fields) are the pages'; so are the URNs and texts of their
examples. Where a page lists an answer's fields without sample values (the token refresh, the
statistics counts), the values are illustrative and the comment says so.
"""

from __future__ import annotations

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

POSTS_API = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/posts-api"
)
IMAGES_API = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/shares/images-api"
)
REFRESH_TOKENS = (
    "https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens"
)
ERROR_HANDLING = (
    "https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling"
)
POST_STATISTICS = (
    "https://learn.microsoft.com/en-us/linkedin/marketing/community-management/members/"
    "post-statistics"
)

ACCESS_TOKEN = "AQXNnd2kXITHELmWblJigo"
# Every /rest/* call: "All APIs require the request headers Linkedin-Version: {Version in
# YYYYMM format} and X-Restli-Protocol-Version: 2.0.0" (Images API page, Schema note).
REST_HEADERS = {
    "Authorization": f"Bearer {ACCESS_TOKEN}",
    "LinkedIn-Version": ANY,
    "X-Restli-Protocol-Version": "2.0.0",
}
JSON = {"Content-Type": "application/json"}

# "Create a Text-Only Post" (Posts API): the page's author is an organization.
AUTHOR = "urn:li:organization:5515715"
DISTRIBUTION = {
    "feedDistribution": "MAIN_FEED",
    "targetEntities": [],
    "thirdPartyDistributionChannels": [],
}
TEXT_POST = Exchange(
    name="create a text post",
    source=POSTS_API,
    expect=Expect(
        "POST",
        "/rest/posts",
        json={
            "author": AUTHOR,
            "commentary": "Sample text Post",
            "visibility": "PUBLIC",
            "distribution": DISTRIBUTION,
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        },
        headers=REST_HEADERS | JSON,
        exact=True,
    ),
    reply=Reply(status=201, headers={"x-restli-id": "urn:li:share:6844785523593134080"}),
)

# "Initialize Image Upload", uploading to the returned URL, "Get a Single Image", then a post
# referencing the image (Posts API, "Create a Single Image Post"). The upload URL's host is the
# replay's own address instead of www.linkedin.com.
IMAGE_OWNER = "urn:li:organization:2414183"
IMAGE_URN = "urn:li:image:C4E10AQFoyyAjHPMQuQ"
IMAGE_UPLOAD_PATH = "/dms-uploads/C4E10AQFoyyAjHPMQuQ/uploaded-image/0"
IMAGE_POST = [
    Exchange(
        name="initialize an image upload",
        source=IMAGES_API,
        expect=Expect(
            "POST",
            "/rest/images",
            query={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": IMAGE_OWNER}},
            headers=REST_HEADERS | JSON,
            exact=True,
        ),
        reply=Reply(
            body={
                "value": {
                    "uploadUrlExpiresAt": 1650567510704,
                    "uploadUrl": "{base}" + IMAGE_UPLOAD_PATH + "?ca=vector_ads&cn=uploads"
                    "&m=AQJbrN86Zm265gAAAWemyz2pxPSgONtBiZdchrgG872QltnfYjnMdb2j3A&app=1953784"
                    "&sync=0&v=beta&ut=2H-IhpbfXrRow1",
                    "image": IMAGE_URN,
                }
            }
        ),
    ),
    Exchange(
        name="upload the image bytes",
        source=IMAGES_API,
        expect=Expect(
            "PUT",
            IMAGE_UPLOAD_PATH,
            # Every parameter of the upload URL handed out above, sent back as it came.
            query={
                "ca": "vector_ads",
                "cn": "uploads",
                "m": "AQJbrN86Zm265gAAAWemyz2pxPSgONtBiZdchrgG872QltnfYjnMdb2j3A",
                "app": "1953784",
                "sync": "0",
                "v": "beta",
                "ut": "2H-IhpbfXrRow1",
            },
            body=ANY,  # the image's bytes: the test compares them with the file
            headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        ),
        reply=Reply(status=201),
    ),
    Exchange(
        name="get the image",
        source=IMAGES_API,
        expect=Expect("GET", f"/rest/images/{IMAGE_URN}", headers=REST_HEADERS),
        reply=Reply(
            body={
                "owner": IMAGE_OWNER,
                "status": "AVAILABLE",
                "downloadUrlExpiresAt": 1650567510704,
                "downloadUrl": "https://media.licdn.com/dms/image/C4E10AQFoyyAjHPMQuQ/image-shrink_1280/0",
                "id": IMAGE_URN,
            }
        ),
    ),
    Exchange(
        name="create a single image post",
        source=POSTS_API,
        expect=Expect(
            "POST",
            "/rest/posts",
            json={
                "author": IMAGE_OWNER,
                "commentary": "Sample image Post",
                "visibility": "PUBLIC",
                # The Post schema's distribution and reshare flag, as in the text post above.
                "distribution": DISTRIBUTION,
                "content": {"media": {"id": IMAGE_URN, "altText": "testing for alt tags"}},
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
            },
            headers=REST_HEADERS | JSON,
        ),
        reply=Reply(status=201, headers={"x-restli-id": "urn:li:share:6844785523593134080"}),
    ),
]

# Programmatic refresh tokens: the request is the page's; the answer has the fields the page
# lists, with illustrative values (a 60-day access token; the refresh token's TTL keeps
# counting down from the first authorization, 306 days left on day 59 as in its example).
REFRESH_TOKEN = "AQWsAs1dLLzLl5FO2iOUp8fKEsQlzXtR"
TOKEN_REFRESH = Exchange(
    name="refresh an access token",
    source=REFRESH_TOKENS,
    expect=Expect(
        "POST",
        "/oauth/v2/accessToken",
        form={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": "t21-sandbox",
            "client_secret": "t21-sandbox-secret",
        },
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        exact=True,
    ),
    reply=Reply(
        body={
            "access_token": "BBBB2",
            "expires_in": 5184000,
            "refresh_token": REFRESH_TOKEN,
            "refresh_token_expires_in": 26438400,
            "scope": "r_basicprofile,w_member_social",
        }
    ),
)

# Error handling: a revoked token is 401 with serviceErrorCode 65601 REVOKED_ACCESS_TOKEN.
REVOKED = Exchange(
    name="a post with a revoked token",
    source=ERROR_HANDLING,
    expect=TEXT_POST.expect,
    reply=Reply(
        status=401,
        body={
            "status": 401,
            "serviceErrorCode": 65601,
            "code": "REVOKED_ACCESS_TOKEN",
            "message": "The token used in the request has been revoked by the user",
        },
    ),
)
# Rate limits: over the member's daily limit, 429 until midnight UTC.
THROTTLED = Exchange(
    name="a post over the daily limit",
    source="https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/rate-limits",
    expect=TEXT_POST.expect,
    reply=Reply(
        status=429,
        body={
            "status": 429,
            "serviceErrorCode": 101,
            "code": "TOO_MANY_REQUESTS",
            "message": (
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached."
            ),
        },
    ),
)

# Member post statistics, one query type per call, for a single post (q=entity) in TOTAL; the
# counts are illustrative.
STATISTICS_POST = "urn:li:share:7041817417245937664"
METRIC_TYPE = "com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1"
STATISTICS_COUNTS = {
    "IMPRESSION": 1508,
    "MEMBERS_REACHED": 1166,
    "RESHARE": 3,
    "REACTION": 27,
    "COMMENT": 6,
}


def _statistic(query_type: str, count: int) -> Exchange:
    return Exchange(
        name=f"{query_type.lower()} of a post",
        source=POST_STATISTICS,
        expect=Expect(
            "GET",
            "/rest/memberCreatorPostAnalytics",
            query={
                "q": "entity",
                "entity": f"(share:{STATISTICS_POST})",
                "queryType": query_type,
                "aggregation": "TOTAL",
            },
            headers=REST_HEADERS,
            exact=True,
        ),
        reply=Reply(
            body={
                "paging": {"start": 0, "count": 10, "links": []},
                "elements": [
                    {
                        "count": count,
                        "metricType": {METRIC_TYPE: query_type},
                        "targetEntity": {"share": STATISTICS_POST},
                    }
                ],
            }
        ),
    )


STATISTICS = [_statistic(name, count) for name, count in STATISTICS_COUNTS.items()]

# Find posts by author (needs r_member_social for a member, r_organization_social for a page).
FIND_BY_AUTHOR = Exchange(
    name="find posts by author",
    source=POSTS_API,
    expect=Expect(
        "GET",
        "/rest/posts",
        query={"q": "author", "author": AUTHOR, "count": ANY, "sortBy": "LAST_MODIFIED"},
        # `start` pages the finder, as every Rest.li collection does:
        # https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/pagination
        extra=frozenset({"start"}),
        headers=REST_HEADERS | {"X-RestLi-Method": "FINDER"},
    ),
    reply=Reply(
        body={
            "paging": {"start": 0, "count": 10, "links": [], "total": 1},
            "elements": [
                {
                    "id": "urn:li:share:6844785523593134080",
                    "author": AUTHOR,
                    "commentary": "Sample text Post",
                    "visibility": "PUBLIC",
                    "lifecycleState": "PUBLISHED",
                    "isReshareDisabledByAuthor": False,
                    "createdAt": 1631905424588,
                    "publishedAt": 1631905424588,
                    "lastModifiedAt": 1631905424634,
                    "distribution": {
                        "feedDistribution": "MAIN_FEED",
                        "targetEntities": [],
                        "thirdPartyDistributionChannels": [],
                    },
                }
            ],
        }
    ),
)
