"""Bluesky (AT Protocol): posts with text (facets for links, mentions and hashtags) and up to
4 images with alt text, or a link card; the account's own records for reconciliation; per-post
counts.

Connecting takes a handle and an app password, no redirect (`connect_with_credentials`):
the handle resolves to a DID, the DID document names the account's PDS, and a session starts
there. Where `T21_BLUESKY_OAUTH` is on, it also connects through AT Protocol OAuth (PAR, PKCE,
DPoP-bound tokens, a client metadata document T21 serves): `signin` and `oauth`, whose
docstrings cite their sources.

Facts the adapter relies on, with their sources:

- Handle → DID with `com.atproto.identity.resolveHandle`; DID → PDS from the DID document's
  `#atproto_pds` service, from plc.directory for did:plc and /.well-known/did.json for did:web
  (atproto.com/specs/handle, atproto.com/specs/did; lexicons/com/atproto/identity).
- `com.atproto.server.createSession` `{identifier, password}` → `{accessJwt, refreshJwt, did,
  handle}`; a wrong password is 401 AuthenticationRequired "Invalid identifier or password";
  access tokens live 120 minutes, refresh tokens 90 days; `refreshSession` with the refresh
  token as Bearer rotates both; `deleteSession` ends the session; an expired token answers 400
  ExpiredToken (github.com/bluesky-social/atproto packages/pds/src/account-manager,
  packages/pds/src/auth-verifier.ts; docs.bsky.app/docs/api/com-atproto-server-create-session).
- Posts: `com.atproto.repo.createRecord` of `app.bsky.feed.post`, text maxGraphemes 300 and
  maxLength 3000 (bytes), `langs` at most 3, facets with UTF-8 byte offsets
  (lexicons/app/bsky/feed/post.json, lexicons/app/bsky/richtext/facet.json,
  docs.bsky.app/docs/advanced-guides/post-richtext).
- Images: `com.atproto.repo.uploadBlob`, then `app.bsky.embed.images` with at most 4 images,
  each a blob of image/* of at most 2,000,000 bytes with a required `alt`
  (lexicons/app/bsky/embed/images.json; docs.bsky.app/docs/advanced-guides/posts).
- Link cards: `app.bsky.embed.external` {external: {uri, title, description, thumb?}}, the thumb
  a blob of image/* of at most 1,000,000 bytes; the client reads the page's Open Graph tags and
  uploads the image (lexicons/app/bsky/embed/external.json; docs.bsky.app/docs/advanced-guides/
  posts, "Website card embeds"). See `card`.
- Reading back: `com.atproto.repo.listRecords` (newest first, `cursor`, limit ≤ 100);
  `app.bsky.feed.getPosts` (≤ 25 uris) gives likeCount, repostCount, replyCount, quoteCount
  (lexicons/app/bsky/feed/getPosts.json, lexicons/app/bsky/feed/defs.json#postView).
- Rate limits: writes cost points (create 3), 5,000 per hour and 35,000 per day per account;
  answers carry `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (epoch seconds),
  `ratelimit-policy`; a spent budget is 429 (docs.bsky.app/docs/advanced-guides/rate-limits).

Sources (the facts the adapter relies on, cited where used):
Source: https://atproto.com/specs/handle
Source: https://atproto.com/specs/did
Source: https://docs.bsky.app/docs/api/com-atproto-server-create-session
Source: https://docs.bsky.app/docs/advanced-guides/post-richtext
Source: https://docs.bsky.app/docs/advanced-guides/posts
Source: https://docs.bsky.app/docs/advanced-guides/rate-limits
Source: https://docs.bsky.app
Source: https://docs.bsky.app/docs/advanced-guides/posts#replies
Source: https://atproto.com/specs/oauth
Source: https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/external.json
"""

from t21.platforms.bluesky.provider import BlueskyOptions, BlueskyProvider

__all__ = ["BlueskyOptions", "BlueskyProvider"]
