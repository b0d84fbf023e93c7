"""Bluesky's reference examples as exchanges: what docs.bsky.app and atproto.com show a client
sending and a PDS answering, with the page each comes from. The handle, DIDs, record keys, CIDs
and blob are the pages' own; the DID document is the shape atproto.com/specs/did shows, with
the replay standing in for the PDS (`{base}`)."""

from __future__ import annotations

import re

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

POSTS = "https://docs.bsky.app/docs/advanced-guides/posts"
CREATING_A_POST = "https://docs.bsky.app/docs/tutorials/creating-a-post"
RESOLVE_HANDLE = "https://docs.bsky.app/docs/api/com-atproto-identity-resolve-handle"
DID_SPEC = "https://atproto.com/specs/did"
RATE_LIMITS = "https://docs.bsky.app/docs/advanced-guides/rate-limits"
GET_POSTS = "https://docs.bsky.app/docs/api/app-bsky-feed-get-posts"

HANDLE = "example.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"
ACCESS_JWT = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NksifQ.access"
REFRESH_JWT = "eyJ0eXAiOiJyZWZyZXNoK2p3dCIsImFsZyI6IkVTMjU2SyJ9.refresh"
BEARER = {"Authorization": f"Bearer {ACCESS_JWT}"}
JSON = {"Content-Type": "application/json"}
POST_URI = f"at://{DID}/app.bsky.feed.post/3k4duaz5vfs2b"
POST_CID = "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")

RESOLVE = Exchange(
    name="resolve the handle",
    source=RESOLVE_HANDLE,
    expect=Expect("GET", "/xrpc/com.atproto.identity.resolveHandle", query={"handle": HANDLE}),
    reply=Reply(body={"did": DID}),
)

DID_DOCUMENT = Exchange(
    name="read the DID document",
    source=DID_SPEC,
    expect=Expect("GET", f"/{DID}"),
    reply=Reply(
        body={
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": DID,
            "alsoKnownAs": [f"at://{HANDLE}"],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": "{base}",
                }
            ],
        }
    ),
)

CREATE_SESSION = Exchange(
    name="create a session with the app password",
    source=POSTS,
    expect=Expect(
        "POST",
        "/xrpc/com.atproto.server.createSession",
        json={"identifier": HANDLE, "password": APP_PASSWORD},
        headers=JSON,
        exact=True,
    ),
    reply=Reply(
        body={"accessJwt": ACCESS_JWT, "refreshJwt": REFRESH_JWT, "handle": HANDLE, "did": DID}
    ),
)

# The profile of the account, for its display name (documented on
# docs.bsky.app/docs/api/app-bsky-actor-get-profile).
PROFILE = Exchange(
    name="read the profile",
    source="https://docs.bsky.app/docs/api/app-bsky-actor-get-profile",
    expect=Expect("GET", "/xrpc/app.bsky.actor.getProfile", query={"actor": DID}, headers=BEARER),
    reply=Reply(body={"did": DID, "handle": HANDLE, "displayName": "Example"}),
)

CREATE_POST = Exchange(
    name="create a text post",
    source=POSTS,
    expect=Expect(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        json={
            "repo": DID,
            "collection": "app.bsky.feed.post",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "Hello World!",
                "createdAt": TIMESTAMP,
            },
        },
        headers=BEARER | JSON,
        exact=True,
    ),
    reply=Reply(body={"uri": POST_URI, "cid": POST_CID}),
)

# The page's image post: the blob `uploadBlob` answers goes into an app.bsky.embed.images.
BLOB = {
    "$type": "blob",
    "ref": {"$link": "bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa"},
    "mimeType": "image/png",
    "size": 760898,
}
UPLOAD_BLOB = Exchange(
    name="upload an image blob",
    source=POSTS,
    expect=Expect(
        "POST",
        "/xrpc/com.atproto.repo.uploadBlob",
        body=ANY,
        headers=BEARER | {"Content-Type": "image/png"},
    ),
    reply=Reply(body={"blob": BLOB}),
)
IMAGE_POST = Exchange(
    name="create a post embedding the image",
    source=POSTS,
    expect=Expect(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        json={
            "repo": DID,
            "collection": "app.bsky.feed.post",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "example post with image attached",
                "createdAt": TIMESTAMP,
                "embed": {
                    "$type": "app.bsky.embed.images",
                    "images": [
                        {"alt": "brief alt text description of the first image", "image": BLOB}
                    ],
                },
            },
        },
        headers=BEARER | JSON,
    ),
    reply=Reply(body={"uri": POST_URI, "cid": POST_CID}),
)


def rate_limited(reset: int) -> Exchange:
    """Over the budget: 429 with the ratelimit-* headers the page describes (reset: epoch s)."""
    return Exchange(
        name="a spent write budget",
        source=RATE_LIMITS,
        expect=Expect(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            json={"repo": DID, "collection": "app.bsky.feed.post", "record": ANY},
            headers=BEARER,
        ),
        reply=Reply(
            status=429,
            body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "5000;w=3600",
            },
        ),
    )


GET_POSTS_EXCHANGE = Exchange(
    name="read a post's counts",
    source=GET_POSTS,
    expect=Expect("GET", "/xrpc/app.bsky.feed.getPosts", query={"uris": POST_URI}, headers=BEARER),
    reply=Reply(
        body={
            "posts": [
                {
                    "uri": POST_URI,
                    "cid": POST_CID,
                    "author": {"did": DID, "handle": HANDLE},
                    "record": {"$type": "app.bsky.feed.post", "text": "Hello World!"},
                    "replyCount": 2,
                    "repostCount": 5,
                    "likeCount": 12,
                    "quoteCount": 1,
                    "indexedAt": "2023-08-07T05:31:12.156Z",
                }
            ]
        }
    ),
)
