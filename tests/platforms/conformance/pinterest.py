"""Pinterest API v5's reference as exchanges: the requests its OpenAPI description
(github.com/pinterest/api-description, v5/openapi.yaml) defines for what T21 does and the
objects it gives in answer, with its example values where it has them (ids, the upload URL and
parameters) and made-up ones shaped as the schemas say elsewhere."""

from __future__ import annotations

import re

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

SPEC = "https://github.com/pinterest/api-description/blob/main/v5/openapi.yaml"
DOCS = "https://developers.pinterest.com/docs/api/v5"
BOARD_ID = "549755885175"  # BoardBase.id example
MEDIA_ID = "12345"  # Media.media_id example
PIN_ID = "813744226420795884"
USER_ID = "2783136121146311751"  # Account.id example
BASIC = re.compile(r"Basic [A-Za-z0-9+/=]+")
BEARER = re.compile(r"Bearer .+")
SIGNATURE = "fcd6309a6aaee213348666a72abed8b44552a43acb6b340e8e1b288d21a5fe92"
SCOPE = "boards:read,boards:write,pins:read,pins:write,user_accounts:read"

TOKEN_FROM_CODE = Exchange(
    name="oauth/token with an authorization code",
    source=f"{DOCS}/#operation/oauth/token",
    expect=Expect(
        "POST",
        "/v5/oauth/token",
        form={"grant_type": "authorization_code", "code": ANY, "redirect_uri": ANY},
        headers={"authorization": BASIC},
        # For apps created before 25 Sep 2025 (the operation's description).
        extra=frozenset({"continuous_refresh"}),
    ),
    reply=Reply(
        body={
            "access_token": "pina_AMA1",
            "token_type": "bearer",
            "expires_in": 2592000,
            "scope": SCOPE,
            "response_type": "authorization_code",
            "refresh_token": "pinr_AQA1",
            "refresh_token_expires_in": 5184000,
            "refresh_token_expires_at": 1790000000,
        }
    ),
)

USER_ACCOUNT = Exchange(
    name="user_account/get",
    source=f"{DOCS}/#operation/user_account/get",
    expect=Expect("GET", "/v5/user_account", headers={"authorization": BEARER}),
    reply=Reply(
        body={
            "account_type": "BUSINESS",
            "id": USER_ID,
            "username": "acme_home",
            "business_name": "Acme Home",
            "profile_image": "https://i.pinimg.com/600x600_R/acme.jpg",
            "board_count": 14,
            "pin_count": 339,
            "follower_count": 10,
            "following_count": 347,
            "monthly_views": 163,
        }
    ),
)

BOARDS = Exchange(
    name="boards/list, one page",
    source=f"{DOCS}/#operation/boards/list",
    expect=Expect("GET", "/v5/boards", query={"page_size": "250"}),
    reply=Reply(
        body={
            "items": [
                {"id": BOARD_ID, "name": "Summer recipes", "privacy": "PUBLIC",
                 "description": "My favorite summer recipes", "owner": {"username": "acme_home"}},
            ],
            "bookmark": None,
        }
    ),
)  # fmt: skip

PIN = {
    "id": PIN_ID,
    "created_at": "2020-01-01T20:10:40-00:00",
    "board_id": BOARD_ID,
    "title": None,
    "description": "Grilled peaches",
    "link": "https://www.pinterest.com/",
    "media": {"media_type": "image"},
}

CREATE_IMAGE_PIN = Exchange(
    name="pins/create from an image URL",
    source=f"{DOCS}/#operation/pins/create",
    expect=Expect(
        "POST",
        "/v5/pins",
        json={
            "board_id": BOARD_ID,
            "description": "Grilled peaches",
            "link": "https://www.pinterest.com/",
            "media_source": {"source_type": "image_url", "url": ANY},
        },
        exact=True,
    ),
    reply=Reply(status=201, body=PIN),
)

REGISTER_MEDIA = Exchange(
    name="media/create",
    source=f"{DOCS}/#operation/media/create",
    expect=Expect("POST", "/v5/media", json={"media_type": "video"}, exact=True),
    reply=Reply(
        status=201,
        body={
            "media_id": MEDIA_ID,
            "media_type": "video",
            "upload_url": "{base}/s3-upload/",
            "upload_parameters": {
                "x-amz-date": "20220127T185143Z",
                "x-amz-signature": SIGNATURE,
                "x-amz-security-token": "IQoJb3JpZ2luX2VjEJr...==",
                "x-amz-algorithm": "AWS4-HMAC-SHA256",
                "key": "uploads/11/aa/22/3:video:203014033110991560:5212123920968240771",
                "policy": "eyJleHBpcmF0aW9uIjoiMj..==",
                "x-amz-credential": "ASIA6QZJ64OPIKV7FRVX/20220127/us-east-1/s3/aws4_request",
                "Content-Type": "multipart/form-data",
            },
        },
    ),
)

UPLOAD = Exchange(
    name="the form POST of the file to upload_url",
    source="https://developers.pinterest.com/docs/content/update/",
    expect=Expect("POST", "/s3-upload/", body=ANY),
    reply=Reply(status=204),
)

MEDIA_SUCCEEDED = Exchange(
    name="media/get, processed",
    source=f"{DOCS}/#operation/media/get",
    expect=Expect("GET", f"/v5/media/{MEDIA_ID}"),
    reply=Reply(body={"media_id": MEDIA_ID, "media_type": "video", "status": "succeeded"}),
)

CREATE_VIDEO_PIN = Exchange(
    name="pins/create from a video id",
    source=f"{DOCS}/#operation/pins/create",
    expect=Expect(
        "POST",
        "/v5/pins",
        json={
            "board_id": BOARD_ID,
            "description": "Peaches on the grill",
            "media_source": {"source_type": "video_id", "media_id": MEDIA_ID,
                             "cover_image_key_frame_time": 1},
        },
        exact=True,
    ),
    reply=Reply(status=201, body=PIN | {"media": {"media_type": "video"}}),
)  # fmt: skip

RATE_LIMITED = Exchange(
    name="pins/create answered 429",
    source=f"{DOCS}/#operation/pins/create",
    expect=Expect("POST", "/v5/pins", json={"board_id": BOARD_ID, "media_source": ANY}),
    reply=Reply(
        status=429,
        body={"code": 8, "message": "You have exceeded your rate limit. Try again later."},
        headers={"retry-after": "42"},
    ),
)

AUTHENTICATION_FAILED = Exchange(
    name="an access token Pinterest no longer takes",
    source="https://github.com/pinterest/pinterest-python-generated-api-client/issues/31",
    expect=Expect("GET", "/v5/user_account"),
    reply=Reply(status=401, body={"code": 2, "message": "Authentication failed."}),
)
