"""X (Twitter API v2): posts with text, up to 4 images, or one video or animated GIF; replies
(threads), quotes and reply settings; the account's timeline and per-post metrics.

OAuth 2.0 authorization code with mandatory PKCE (S256), T21 as a confidential client (Basic
auth at the token endpoint); 2-hour access tokens and single-use refresh tokens (with
`offline.access`). Media goes through the dedicated upload endpoints, videos and GIFs are
polled until processed. Every failure is classified in `wire`.

Facts the adapter relies on, with their sources:

- Token endpoint `POST /2/oauth2/token`, form-encoded; a confidential client authenticates with
  Basic auth; `grant_type=refresh_token` for a refresh; access tokens live 2 hours
  (docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token). T21 refreshes them a
  share of their life ahead (24 minutes) — `social.tokens.refresh_margin`.
- Scopes: `POST /2/tweets` needs tweet.read tweet.write users.read, media endpoints media.write,
  a refresh token needs offline.access (docs.x.com openapi.json security); the requested set is
  `T21_TWITTER_SCOPES`, defaulting to exactly those.
- `POST /2/tweets` answers 201 `{"data": {"id", "text"}}`
  (docs.x.com/x-api/posts/manage-tweets/quickstart); 429 carries `x-rate-limit-reset` (epoch
  seconds; docs.x.com/x-api/fundamentals/rate-limits); a duplicate is 403
  (docs.x.com/x-api/fundamentals/response-codes-and-errors).
- Media: `/2/media/upload/initialize`, `/{id}/append` (multipart, `segment_index`),
  `/{id}/finalize`, then `GET /2/media/upload?command=STATUS` while `processing_info` is there
  (docs.x.com/x-api/media/quickstart/media-upload-chunked and the endpoint reference pages).
- Alt text (`POST /2/media/metadata`) is documented for images and GIFs only
  (docs.x.com/x-api/media/create-media-metadata; the v1.1 page: "only for images and GIFs"):
  a video's alt text is not sent rather than failing the post (X's answer is unconfirmed).
- Metrics (docs.x.com/x-api/fundamentals/metrics): `public_metrics` for any post;
  `non_public_metrics` only for the user's own posts created in the last 30 days. Asked for any
  other post, X leaves that post out of `data` and reports a "Field Authorization Error" in
  `errors` (a 200; node-twitter-api-v2 issue 432, twittered PR 366). So public numbers are asked
  for every post, and non-public ones in a second request for the posts that qualify.

Sources (the facts the adapter relies on, cited where used):
Source: https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token
Source: https://docs.x.com
Source: https://docs.x.com/x-api/posts/manage-tweets/quickstart
Source: https://docs.x.com/x-api/fundamentals/rate-limits
Source: https://docs.x.com/x-api/fundamentals/response-codes-and-errors
Source: https://docs.x.com/x-api/media/quickstart/media-upload-chunked
Source: https://docs.x.com/x-api/media/create-media-metadata
Source: https://docs.x.com/x-api/fundamentals/metrics
Source: https://docs.x.com/x-api/posts/create-post
"""

from t21.platforms.twitter.provider import TwitterOptions, TwitterProvider

__all__ = ["TwitterOptions", "TwitterProvider"]
