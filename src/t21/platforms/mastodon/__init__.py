"""Mastodon: any instance of the federated network. The connect request names the instance (its
host name); T21 registers an app there once (`POST /api/v1/apps`), then runs OAuth 2.0 with PKCE
(S256) where the instance's authorization server metadata offers it (Mastodon 4.3+). Statuses
carry an `Idempotency-Key`, so a doubtful attempt repeated is the same request: the instance
answers it with the status the first one created, never a second one.

Facts the adapter relies on, with their sources (docs.joinmastodon.org, and the server's code,
github.com/mastodon/mastodon):

- Apps: `POST /api/v1/apps` `{client_name, redirect_uris, scopes, website?}` → `{client_id,
  client_secret, ...}` (docs.joinmastodon.org/methods/apps/#create). Authorization
  `GET /oauth/authorize`, token `POST /oauth/token` (form: grant_type, code, client_id,
  client_secret, redirect_uri, code_verifier), `POST /oauth/revoke` (client_id, client_secret,
  token); PKCE S256 from 4.3, advertised in `/.well-known/oauth-authorization-server`
  `code_challenge_methods_supported` (docs.joinmastodon.org/methods/oauth/). Tokens have no
  expiry and no refresh token (docs.joinmastodon.org/spec/oauth/).
- Scopes: granular `read:accounts read:statuses write:statuses write:media`
  (docs.joinmastodon.org/api/oauth-scopes/); a token without one is refused 403 "This action
  is outside the authorized scopes" (app/controllers/api/base_controller.rb).
- `GET /api/v1/accounts/verify_credentials` → the account `{id, username, acct, display_name,
  avatar}` (docs.joinmastodon.org/methods/accounts/#verify_credentials).
- Statuses: `POST /api/v1/statuses` (status, media_ids[], visibility, spoiler_text, sensitive,
  language) with header `Idempotency-Key`; the server keeps a key one hour per account and
  answers a repeat with the first status (docs.joinmastodon.org/methods/statuses/#create;
  app/services/post_status_service.rb `idempotency_duplicate`). Refusals are 422
  `{"error": "Validation failed: ..."}`.
- Text: the instance's `configuration.statuses.max_characters` (500 by default) and
  `characters_reserved_per_url` (23) from `GET /api/v2/instance`
  (docs.joinmastodon.org/methods/instance/#v2); counted in grapheme clusters, each URL 23, a
  remote mention as `@user`, the content warning included
  (app/validators/status_length_validator.rb).
- Media: `POST /api/v2/media` (multipart `file`, `description`) answers 200 when processed, 202
  (url null) when processing continues; `GET /api/v1/media/:id` answers 206 while processing,
  200 once done (docs.joinmastodon.org/methods/media/). Up to 4 images or 1 video; 16 MB images,
  99 MB videos (default `configuration.media_attachments` limits; app/models/media_attachment.rb).
- Reading back: `GET /api/v1/accounts/:id/statuses` (limit ≤ 40, exclude_reblogs) and
  `GET /api/v1/statuses/:id` with `favourites_count`, `reblogs_count`, `replies_count`
  (docs.joinmastodon.org/entities/Status/).
- Rate limits: `X-RateLimit-Limit`, `-Remaining`, `-Reset` (an ISO 8601 time); 429
  `{"error": "Too many requests"}`; 300 statuses and 30 media per account per 3 hours / 30 min
  (docs.joinmastodon.org/api/rate-limits/; config/initializers/rack_attack.rb).

Sources (the facts the adapter relies on, cited where used):
Source: https://docs.joinmastodon.org
Source: https://docs.joinmastodon.org/methods/apps/#create
Source: https://docs.joinmastodon.org/methods/oauth/
Source: https://docs.joinmastodon.org/spec/oauth/
Source: https://docs.joinmastodon.org/api/oauth-scopes/
Source: https://docs.joinmastodon.org/methods/accounts/#verify_credentials
Source: https://docs.joinmastodon.org/methods/statuses/#create
Source: https://docs.joinmastodon.org/methods/instance/#v2
Source: https://docs.joinmastodon.org/methods/media/
Source: https://docs.joinmastodon.org/entities/Status/
Source: https://docs.joinmastodon.org/api/rate-limits/
"""

from t21.platforms.mastodon.provider import AppRegistration, MastodonOptions, MastodonProvider

__all__ = ["AppRegistration", "MastodonOptions", "MastodonProvider"]
