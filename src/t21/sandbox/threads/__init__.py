"""A fake of Meta's Threads API, faithful to its wire format so T21's adapter runs against it
unchanged.

- `/oauth/authorize` consents at once and 302s back with `code`, `state` and Meta's `#_`;
  `POST /oauth/access_token` swaps the code for a 1 h token (`{access_token, user_id}`).
- Graph host (any `/vN.N/` prefix): `GET /access_token` (th_exchange_token → 60 days),
  `GET /refresh_access_token` (th_refresh_token, for long-lived tokens at least
  `refresh_min_age_s` old), `/me`, nodes with `fields`, `POST /{user}/threads` (TEXT, IMAGE,
  VIDEO, carousel items and CAROUSEL of 2–20; text counted by the fake's own code, emoji as UTF-8
  bytes, at most 500; at most 5 links; `reply_control` checked; media downloaded and checked for
  type and size), container status (`status`, `error_message`; IN_PROGRESS for
  `processing_polls` reads), `POST /{user}/threads_publish` (the moving 24 h quota, duplicates,
  the per-send record), `/{user}/threads_publishing_limit`, `GET /{user}/threads` (`since`,
  `limit`), `/{media}/insights` (views, likes, replies, reposts, quotes, shares). Scopes are
  enforced per endpoint (code 10); dead tokens answer code 190.
- `/_control`: the shared routes plus `config` (quota_total, processing_polls,
  refresh_min_age_s, withheld_scopes), `containers/outcome` (the next media containers end in
  ERROR/EXPIRED), `insights` (a post's numbers) and `posts`.
Unconfirmed details (the fake's choice): the quota refusal's code (4) and the not-ready
refusal's code (24/4279009).
"""

from t21.sandbox.threads.app import create_threads_app
from t21.sandbox.threads.state import ThreadsAccount, ThreadsState

__all__ = ["ThreadsAccount", "ThreadsState", "create_threads_app"]
