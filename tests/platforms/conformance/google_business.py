"""Google Business Profile's reference as exchanges: Google's OAuth code exchange, the account
and location listings, the event post of Google's posts guide, a local post listing and a quota
refusal, each with the page it comes from. Ids and names are made up where a page shows none,
shaped as its object definitions say."""

from __future__ import annotations

from tests.platforms.conformance import google_oauth
from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

REFERENCE = "https://developers.google.com/my-business/reference"
GUIDE = "https://developers.google.com/my-business/content/posts-data"
ACCESS_TOKEN = "ya29.a0AfH6SMB-reference-example"
SCOPE = "https://www.googleapis.com/auth/business.manage"
ACCOUNT = "accounts/107342367589326712345"
LOCATION = "locations/1234567890123456789"
PARENT = f"{ACCOUNT}/{LOCATION}"
BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}

TOKEN = google_oauth.code_exchange(ACCESS_TOKEN, SCOPE)

ACCOUNTS = Exchange(
    name="accounts.list",
    source=f"{REFERENCE}/accountmanagement/rest/v1/accounts/list",
    expect=Expect("GET", "/v1/accounts", query={"pageSize": "20"}, headers=BEARER),
    reply=Reply(
        body={"accounts": [{"name": ACCOUNT, "accountName": "Acme Bakeries", "type": "PERSONAL"}]}
    ),
)

LOCATIONS = Exchange(
    name="accounts.locations.list with a readMask",
    source=f"{REFERENCE}/businessinformation/rest/v1/accounts.locations/list",
    expect=Expect(
        "GET",
        f"/v1/{ACCOUNT}/locations",
        query={"readMask": ANY, "pageSize": "100"},
        headers=BEARER,
    ),
    reply=Reply(
        body={
            "locations": [{"name": LOCATION, "title": "Acme Bakery High Street"}],
            "totalSize": 1,
        }
    ),
)

# The guide's event post, but for `languageCode` (optional in the LocalPost reference; T21
# leaves it to Google).
EVENT_POST = Exchange(
    name="create an event post (the guide's example)",
    source=f"{GUIDE}#event_posts",
    expect=Expect(
        "POST",
        f"/v4/{PARENT}/localPosts",
        json={
            "summary": "Come in for our spooky Halloween event!",
            "event": {
                "title": "Halloween Spook-tacular!",
                "schedule": {
                    "startDate": {"year": 2017, "month": 10, "day": 31},
                    "startTime": {"hours": 9, "minutes": 0, "seconds": 0, "nanos": 0},
                    "endDate": {"year": 2017, "month": 10, "day": 31},
                    "endTime": {"hours": 17, "minutes": 0, "seconds": 0, "nanos": 0},
                },
            },
            "media": [
                {"mediaFormat": "PHOTO", "sourceUrl": "https://www.google.com/real-image.jpg"}
            ],
            "topicType": "EVENT",
        },
        headers=BEARER,
        exact=True,
    ),
    reply=Reply(
        body={
            "name": f"{PARENT}/localPosts/987654321",
            "summary": "Come in for our spooky Halloween event!",
            "createTime": "2017-10-01T12:00:00.000Z",
            "updateTime": "2017-10-01T12:00:00.000Z",
            "state": "LIVE",
            "searchUrl": "https://local.google.com/place?id=1234&use=posts&lpsid=987654321",
            "topicType": "EVENT",
        }
    ),
)

LIST_POSTS = Exchange(
    name="accounts.locations.localPosts.list",
    source=f"{REFERENCE}/rest/v4/accounts.locations.localPosts/list",
    expect=Expect("GET", f"/v4/{PARENT}/localPosts", query={"pageSize": "100"}, headers=BEARER),
    reply=Reply(
        body={
            "localPosts": [
                {
                    "name": f"{PARENT}/localPosts/987654321",
                    "summary": "Fresh bread daily",
                    "createTime": "2026-12-06T09:00:00Z",
                    "state": "LIVE",
                    "topicType": "STANDARD",
                }
            ]
        }
    ),
)

QUOTA = Exchange(
    name="a quota refusal in Google's error envelope",
    source="https://cloud.google.com/apis/design/errors#http_mapping",
    expect=Expect(
        "POST",
        f"/v4/{PARENT}/localPosts",
        json={"topicType": "STANDARD"},
        # LocalPost.summary (the reference's resource page).
        extra=frozenset({"summary"}),
    ),
    reply=Reply(
        status=429,
        body={
            "error": {
                "code": 429,
                "message": "Quota exceeded for quota metric 'Requests'.",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
    ),
)
