"""Mastodon's reference examples as exchanges: what docs.joinmastodon.org shows a client sending
and an instance answering, with the page each comes from. Ids, names, tokens and numbers are the
pages' examples (entities shortened to the fields the adapter reads and a few around them)."""

from __future__ import annotations

import re
from typing import Any

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

APPS = "https://docs.joinmastodon.org/methods/apps/#create"
OAUTH = "https://docs.joinmastodon.org/methods/oauth/#token"
OAUTH_INFO = "https://docs.joinmastodon.org/methods/oauth/#authorization-server-metadata"
VERIFY = "https://docs.joinmastodon.org/methods/accounts/#verify_credentials"
INSTANCE = "https://docs.joinmastodon.org/methods/instance/#v2"
STATUSES = "https://docs.joinmastodon.org/methods/statuses/#create"
STATUS = "https://docs.joinmastodon.org/methods/statuses/#get"
RATE_LIMITS = "https://docs.joinmastodon.org/api/rate-limits/"

REDIRECT_URI = "http://127.0.0.1:9/api/v1/social-accounts/callback/test"
CLIENT_ID = "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM"
CLIENT_SECRET = "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw"
ACCESS_TOKEN = "ZA-Yj3aBD8U8Cm7lKUp-lm9O9BmDgdhHzDeqsY8tlL0"
BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
SCOPES = "read:accounts read:statuses write:statuses write:media"
ACCOUNT_ID = "14715"
STATUS_ID = "103254962155278888"

REGISTER_APP = Exchange(
    name="register an app",
    source=APPS,
    expect=Expect(
        "POST",
        "/api/v1/apps",
        json={"client_name": "T21", "redirect_uris": REDIRECT_URI, "scopes": SCOPES},
        exact=True,
    ),
    reply=Reply(
        body={
            "id": "563419",
            "name": "T21",
            "website": None,
            "scopes": SCOPES.split(),
            "redirect_uri": REDIRECT_URI,
            "redirect_uris": [REDIRECT_URI],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "client_secret_expires_at": 0,
        }
    ),
)

AUTHORIZATION_SERVER = Exchange(
    name="authorization server metadata (PKCE methods)",
    source=OAUTH_INFO,
    expect=Expect("GET", "/.well-known/oauth-authorization-server"),
    reply=Reply(
        body={
            "issuer": "https://social.example/",
            "authorization_endpoint": "https://social.example/oauth/authorize",
            "token_endpoint": "https://social.example/oauth/token",
            "revocation_endpoint": "https://social.example/oauth/revoke",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
        }
    ),
)

TOKEN = Exchange(
    name="obtain a token with the authorization code",
    source=OAUTH,
    expect=Expect(
        "POST",
        "/oauth/token",
        form={
            "grant_type": "authorization_code",
            "code": "the-code",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPES,
            "code_verifier": ANY,
        },
    ),
    reply=Reply(
        body={
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "scope": SCOPES,
            "created_at": 1573979017,
        }
    ),
)

VERIFY_CREDENTIALS = Exchange(
    name="verify the account's credentials",
    source=VERIFY,
    expect=Expect("GET", "/api/v1/accounts/verify_credentials", headers=BEARER),
    reply=Reply(
        body={
            "id": ACCOUNT_ID,
            "username": "trwnh",
            "acct": "trwnh",
            "display_name": "infinite love ⴳ",
            "avatar": "https://files.mastodon.social/accounts/avatars/000/014/715/original/34aa222f4ae2e0a9.png",
        }
    ),
)

INSTANCE_INFO = Exchange(
    name="the instance's configuration",
    source=INSTANCE,
    expect=Expect("GET", "/api/v2/instance"),
    reply=Reply(
        body={
            "domain": "mastodon.social",
            "title": "Mastodon",
            "version": "4.0.0rc1",
            "configuration": {
                "statuses": {
                    "max_characters": 500,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "image_size_limit": 10485760,
                    "video_size_limit": 41943040,
                },
            },
        }
    ),
)

STATUS_BODY: dict[str, Any] = {
    "id": STATUS_ID,
    "created_at": "2019-12-08T03:48:33.901Z",
    "in_reply_to_id": None,
    "sensitive": False,
    "spoiler_text": "",
    "visibility": "public",
    "language": "en",
    "uri": f"https://mastodon.social/users/trwnh/statuses/{STATUS_ID}",
    "url": f"https://mastodon.social/@trwnh/{STATUS_ID}",
    "replies_count": 5,
    "reblogs_count": 6,
    "favourites_count": 11,
    "content": "<p>&quot;I lost my inheritance with one wrong digit on my sort code&quot;</p>",
    "media_attachments": [],
}

POST_STATUS = Exchange(
    name="post a status with an idempotency key",
    source=STATUSES,
    expect=Expect(
        "POST",
        "/api/v1/statuses",
        form={
            "status": '"I lost my inheritance with one wrong digit on my sort code"',
            "visibility": "public",
            "language": "en",
        },
        headers=BEARER | {"Idempotency-Key": re.compile(r"t21-[0-9a-f]{48}")},
    ),
    reply=Reply(body=STATUS_BODY),
)

RATE_LIMITED = Exchange(
    name="a spent rate limit",
    source=RATE_LIMITS,
    expect=Expect("POST", "/api/v1/statuses", form={"status": "again"}, headers=BEARER),
    reply=Reply(
        status=429,
        body={"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2099-01-01T00:00:00.000000Z",
        },
    ),
)

GET_STATUS = Exchange(
    name="view a status (its counts)",
    source=STATUS,
    expect=Expect("GET", f"/api/v1/statuses/{STATUS_ID}", headers=BEARER),
    reply=Reply(body=STATUS_BODY),
)
