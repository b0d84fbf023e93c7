"""A fake of Instagram's API with Instagram Login, faithful to its wire format so T21's adapter
runs against it unchanged (PLATFORMS.md §1–2).

- Login host: `/oauth/authorize` consents at once and 302s back with `code`, `state` and Meta's
  `#_`; `POST /oauth/access_token` swaps the code for a 1 h token (`{access_token, user_id,
  permissions}`; errors as `{error_type, code, error_message}`).
- Graph host (any `/vNN.N/` prefix): `GET /access_token` (ig_exchange_token → 60 days),
  `GET /refresh_access_token` (only for tokens at least `refresh_min_age_s` old, 24 h by
  default), `/me`, nodes with `fields`, `POST /{ig_user}/media` (image, REELS, STORIES, carousel
  items and CAROUSEL: media downloaded and checked as Instagram does), container status polls
  (IN_PROGRESS for `processing_polls` reads), `POST /{ig_user}/media_publish` (quota over a
  rolling 24 h), `/{ig_user}/content_publishing_limit`, `/{ig_user}/media` and `/stories`,
  `/{media}/insights`, `/{media}/comments`. Errors use Graph's envelope; every answer carries
  `x-app-usage`.
- `/_control`: the shared routes (faults, tokens, published, requests, reset), plus `config`
  (quota_total, processing_polls, refresh_min_age_s, insights_default, withheld_scopes),
  `containers/outcome` (the next containers end in ERROR/EXPIRED or never finish),
  `insights` (a post's numbers, or "empty" / "not_enough_viewers") and `media`.
"""

from t21.sandbox.instagram.app import create_instagram_app
from t21.sandbox.instagram.state import InstagramAccount, InstagramState

__all__ = ["InstagramAccount", "InstagramState", "create_instagram_app"]
