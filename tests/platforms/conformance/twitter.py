"""X's reference examples as exchanges: what docs.x.com shows a client sending and X answering,
with the page each comes from. Request shapes and the examples' ids, texts and numbers are the
pages'. The dedicated media endpoints (`/2/media/upload/initialize`, `/{id}/append`,
`/{id}/finalize`) answer what the chunked-upload quickstart shows for its command-style calls;
where a page shows a one-post lookup (`/2/tweets/{id}`, `data` an object) the same post is
answered in the many-posts lookup the adapter uses (`/2/tweets?ids=`, `data` a list).
"""

from __future__ import annotations

import base64
import re

from tests.platforms.conformance.harness import ABSENT, ANY, Exchange, Expect, Reply

CREATE_POST = "https://docs.x.com/x-api/posts/manage-tweets/quickstart"
CHUNKED_UPLOAD = "https://docs.x.com/x-api/media/quickstart/media-upload-chunked"
INITIALIZE = "https://docs.x.com/x-api/media/initialize-media-upload"
APPEND = "https://docs.x.com/x-api/media/append-media-upload"
FINALIZE = "https://docs.x.com/x-api/media/finalize-media-upload"
STATUS = "https://docs.x.com/x-api/media/get-media-upload-status"
METADATA = "https://docs.x.com/x-api/media/create-media-metadata"
USER_TOKEN = "https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token"
ERRORS = "https://docs.x.com/x-api/fundamentals/response-codes-and-errors"
RATE_LIMITS = "https://docs.x.com/x-api/fundamentals/rate-limits"
METRICS = "https://docs.x.com/x-api/fundamentals/metrics"

# The access token of the user-access-token page's "Connect to the APIs" example.
ACCESS_TOKEN = (
    "Q0Mzb0VhZ0V5dmNXSTEyNER2MFNfVW50RzdXdTN6STFxQlVkTGhTc1lCdlBiOjE2MjIxNDc3NDM5MTQ6MToxOmF0OjE"
)
BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
JSON = {"Content-Type": "application/json"}
# An append carries the chunk as multipart/form-data (`media`, `segment_index`).
MULTIPART = {"Content-Type": re.compile(r"multipart/form-data; boundary=\S+")}

TEXT_POST = Exchange(
    name="create a post",
    source=CREATE_POST,
    expect=Expect(
        "POST", "/2/tweets", json={"text": "Hello world!"}, headers=BEARER | JSON, exact=True
    ),
    reply=Reply(status=201, body={"data": {"id": "1445880548472328192", "text": "Hello world!"}}),
)

MEDIA_ID = "1880028106020515840"
MEDIA_KEY = "13_1880028106020515840"
VIDEO_BYTES = 1_048_576
VIDEO_POST = [
    Exchange(
        name="initialize a video upload",
        source=INITIALIZE,
        expect=Expect(
            "POST",
            "/2/media/upload/initialize",
            json={
                "media_type": "video/mp4",
                "total_bytes": VIDEO_BYTES,
                "media_category": "tweet_video",
            },
            headers=BEARER | JSON,
            exact=True,
        ),
        reply=Reply(
            body={"data": {"id": MEDIA_ID, "media_key": MEDIA_KEY, "expires_after_secs": 1295999}}
        ),
    ),
    Exchange(
        name="append the one chunk",
        source=APPEND,
        expect=Expect(
            "POST", f"/2/media/upload/{MEDIA_ID}/append", body=ANY, headers=BEARER | MULTIPART
        ),
        reply=Reply(body={"data": {"expires_at": 1738886400}}),
    ),
    Exchange(
        name="finalize the upload",
        source=FINALIZE,
        expect=Expect("POST", f"/2/media/upload/{MEDIA_ID}/finalize", headers=BEARER),
        reply=Reply(
            body={
                "data": {
                    "id": MEDIA_ID,
                    "media_key": MEDIA_KEY,
                    "size": VIDEO_BYTES,
                    "expires_after_secs": 86400,
                    "processing_info": {"state": "pending", "check_after_secs": 1},
                }
            }
        ),
    ),
    Exchange(
        name="check the processing status",
        source=STATUS,
        expect=Expect(
            "GET",
            "/2/media/upload",
            query={"command": "STATUS", "media_id": MEDIA_ID},
            headers=BEARER,
            exact=True,
        ),
        reply=Reply(
            body={
                "data": {
                    "id": MEDIA_ID,
                    "media_key": MEDIA_KEY,
                    "processing_info": {"state": "succeeded", "progress_percent": 100},
                }
            }
        ),
    ),
    # No `/2/media/metadata` call: alt text is documented for images and GIFs only.
    Exchange(
        name="create a post with the video",
        source=CHUNKED_UPLOAD,
        expect=Expect(
            "POST",
            "/2/tweets",
            json={"text": "Check out this video!", "media": {"media_ids": [MEDIA_ID]}},
            headers=BEARER | JSON,
            exact=True,
        ),
        reply=Reply(
            status=201,
            body={"data": {"id": "1445880548472328193", "text": "Check out this video!"}},
        ),
    ),
]

IMAGE_ID = "1880028106020515841"
IMAGE_POST = [
    Exchange(
        name="initialize an image upload",
        source=INITIALIZE,
        expect=Expect(
            "POST",
            "/2/media/upload/initialize",
            json={"media_type": "image/png", "total_bytes": ANY, "media_category": "tweet_image"},
            headers=BEARER | JSON,
            exact=True,
        ),
        reply=Reply(
            body={
                "data": {"id": IMAGE_ID, "media_key": f"3_{IMAGE_ID}", "expires_after_secs": 86400}
            }
        ),
    ),
    Exchange(
        name="append the image",
        source=APPEND,
        expect=Expect(
            "POST", f"/2/media/upload/{IMAGE_ID}/append", body=ANY, headers=BEARER | MULTIPART
        ),
        reply=Reply(body={"data": {"expires_at": 1738886400}}),
    ),
    Exchange(
        name="finalize the image (no processing for images)",
        source=FINALIZE,
        expect=Expect("POST", f"/2/media/upload/{IMAGE_ID}/finalize", headers=BEARER),
        reply=Reply(
            body={
                "data": {
                    "id": IMAGE_ID,
                    "media_key": f"3_{IMAGE_ID}",
                    "size": 4096,
                    "expires_after_secs": 86400,
                }
            }
        ),
    ),
    Exchange(
        name="add alt text to the image",
        source=METADATA,
        expect=Expect(
            "POST",
            "/2/media/metadata",
            json={"id": IMAGE_ID, "metadata": {"alt_text": {"text": "A grey square"}}},
            headers=BEARER | JSON,
        ),
        reply=Reply(
            body={
                "data": {
                    "id": IMAGE_ID,
                    "associated_metadata": {"alt_text": {"text": "A grey square"}},
                }
            }
        ),
    ),
    Exchange(
        name="create a post with the image",
        source=CHUNKED_UPLOAD,
        expect=Expect(
            "POST",
            "/2/tweets",
            json={"text": "One view", "media": {"media_ids": [IMAGE_ID]}},
            headers=BEARER | JSON,
        ),
        reply=Reply(status=201, body={"data": {"id": "1445880548472328194", "text": "One view"}}),
    ),
]

# "Step 5: POST oauth2/token - refresh token", confidential client: Basic authentication,
# form-encoded refresh_token and grant_type. The answer's fields are those of the token
# response (`token_type`, `expires_in`, `access_token`, `scope`, `refresh_token`); X rotates the
# refresh token.
REFRESH_TOKEN = (
    "bWRWa3gzdnk3WHRGU1o0bmRRcTJ5VUxWX1lZTDdJSUtmaWcxbTVxdEFXcW5tOjE2MjIxNDc3NDM5MTQ6MToxOnJ0OjE"
)
NEW_REFRESH_TOKEN = "cnQ6MTY2MjE0Nzc0MzkxNDoxOjE6cnQ6Mg"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


TOKEN_REFRESH = Exchange(
    name="refresh the access token",
    source=USER_TOKEN,
    expect=Expect(
        "POST",
        "/2/oauth2/token",
        form={"refresh_token": REFRESH_TOKEN, "grant_type": "refresh_token"},
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic("t21-sandbox", "t21-sandbox-secret"),
        },
        exact=True,
    ),
    reply=Reply(
        body={
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": ACCESS_TOKEN,
            "scope": "tweet.read tweet.write users.read offline.access media.write",
            "refresh_token": NEW_REFRESH_TOKEN,
        }
    ),
)

# A spent 15-minute window: 429 with the x-rate-limit-* headers (reset in epoch seconds).
RESET_AT = 1_900_000_000
RATE_LIMITED = Exchange(
    name="a post over the 15-minute limit",
    source=RATE_LIMITS,
    expect=TEXT_POST.expect,
    reply=Reply(
        status=429,
        body={
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(RESET_AT),
        },
    ),
)
# A duplicate is refused for good (403).
DUPLICATE = Exchange(
    name="a duplicate post",
    source=ERRORS,
    expect=TEXT_POST.expect,
    reply=Reply(
        status=403,
        body={
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
    ),
)

# The metrics page's examples, for post 1234567890: public numbers first (any post), then the
# non-public ones asked for on their own (only the owner's posts of the last 30 days).
POST_ID = "1234567890"
OWNER_ID = "2244994945"
PUBLIC_METRICS = {
    "retweet_count": 50,
    "reply_count": 12,
    "like_count": 234,
    "quote_count": 5,
    "bookmark_count": 8,
    "impression_count": 5432,
}
NON_PUBLIC_METRICS = {
    "impression_count": 5432,
    "url_link_clicks": 89,
    "user_profile_clicks": 156,
    "engagements": 345,
}


def public_lookup(created_at: str) -> Exchange:
    return Exchange(
        name="public metrics of the posts",
        source=METRICS,
        expect=Expect(
            "GET",
            "/2/tweets",
            query={
                "ids": POST_ID,
                "tweet.fields": ANY,
                "expansions": "attachments.media_keys",
                "media.fields": "public_metrics",
            },
            headers=BEARER,
        ),
        reply=Reply(
            body={
                "data": [
                    {
                        "id": POST_ID,
                        "text": "Hello world!",
                        "author_id": OWNER_ID,
                        "created_at": created_at,
                        "public_metrics": PUBLIC_METRICS,
                    }
                ]
            }
        ),
    )


NON_PUBLIC_LOOKUP = Exchange(
    name="non-public metrics of the owner's young posts",
    source=METRICS,
    expect=Expect(
        "GET",
        "/2/tweets",
        query={"ids": POST_ID, "tweet.fields": "non_public_metrics", "expansions": ABSENT},
        headers=BEARER,
    ),
    reply=Reply(
        body={
            "data": [
                {"id": POST_ID, "text": "Hello world!", "non_public_metrics": NON_PUBLIC_METRICS}
            ]
        }
    ),
)
