"""Pinterest (`pinterest`): pins on the account's boards through API v5.

Connecting: OAuth 2.0 authorization code at www.pinterest.com/oauth/ (scopes comma-separated:
boards:read, boards:write, pins:read, pins:write, user_accounts:read; the reference lists
boards:write for creating pins), exchanged at api.pinterest.com/v5/oauth/token with the app's
id and secret as HTTP Basic. Access tokens live 30 days; the
continuous refresh token 60 days and each refresh returns a new one (refreshable without end).
Pinterest revokes only system users' tokens through its API, so disconnecting forgets the
tokens and the person removes the app in their Pinterest settings.

Publishing: `POST /v5/pins` with `board_id` (required per pin: `options.board_id`, one of
`GET /api/v1/social-accounts/{id}/boards`), the post's text as `description`, optional
`title`, `link` and `alt_text`, and a `media_source`: `image_url` (Pinterest downloads the
image from T21's signed URL), `multiple_image_urls` (a carousel of 2-5 images) or `video_id`
(after `POST /v5/media`, the upload, and `GET /v5/media/{id}` until `succeeded`). External ids
are pin ids; permalinks https://www.pinterest.com/pin/<id>/.

Facts the adapter relies on, with their sources:

- Endpoints, request and answer fields, scopes per endpoint, bookmark paging (page_size 1-250),
  `PinCreate` limits (title 100, description 800, alt_text 500, link 2048), `ContentType`
  image/jpeg and image/png, carousels of 2-5 items, media statuses (registered, processing,
  succeeded, failed), the token answer (`refresh_token_expires_in`), analytics dates (start no
  more than 90 days back) and metric types (IMPRESSION, SAVE, PIN_CLICK, OUTBOUND_CLICK),
  revocation for system users only. Source: https://github.com/pinterest/api-description
  (v5/openapi.yaml, release 5.23.0) and https://developers.pinterest.com/docs/api/v5/
- Continuous refresh tokens: 60 days, refreshable indefinitely; apps created before 25 Sep 2025
  send `continuous_refresh=true`. Source: the `oauth/token` operation in the same spec, and
  https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
- Access tokens for 30 days (the answer's `expires_in` is what T21 keeps). Source:
  https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
- The authorize URL's parameters (client_id, redirect_uri, response_type=code, scope with
  commas, state). Source: https://github.com/pinterest/api-quickstart (python/src/user_auth.py)
- Video uploads: a form POST of `upload_parameters` and `file` to `upload_url`, answered 204;
  then the pin with `source_type` video_id and a cover. Source:
  https://developers.pinterest.com/docs/content/update/ and api-quickstart (python/src/pin.py)
- Descriptions of up to 500 characters and titles of up to 100 for people; images PNG or JPEG
  of up to 20 MB; videos .mp4, .mov or .m4v, up to 2 GB, 4 s to 15 min, between 1:2 and 1.91:1.
  Source: https://help.pinterest.com/en/business/article/pinterest-product-specs
- Errors `{code, message}`; 401 `{"code": 2, "message": "Authentication failed."}` for a token
  Pinterest no longer takes. Source: the spec's `Error` schema, and
  https://github.com/pinterest/pinterest-python-generated-api-client/issues/31
- Rate limits per minute per user per app at standard access (org_write for pins and media,
  org_read for reads, org_analytics for analytics); a 429 naming spam refuses the content.
  Source: https://developers.pinterest.com/docs/reference/rate-limits/ and api-quickstart
  (python/src/api_common.py)
- Unconfirmed: which rate-limit headers Pinterest sends with a 429 (T21 reads Retry-After,
  then `x-ratelimit-reset` as seconds or a Unix time, else waits a minute); that `GET /v5/pins`
  lists newest first (T21 reads up to 250 and compares each); whether a video pin needs a cover
  (T21 always names a key frame, the fake demands one); that analytics are keyed "all"
  (T21 matches any case); the pin page URL form.
"""

from t21.platforms.pinterest.provider import PinterestProvider
from t21.platforms.pinterest.rules import LIMITS, PinterestOptions

__all__ = ["LIMITS", "PinterestOptions", "PinterestProvider"]
