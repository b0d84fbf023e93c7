"""X (Twitter API v2): posts with text, up to 4 images, or one video or animated GIF; replies
(threads), quotes and reply settings; the account's timeline and per-post metrics.

OAuth 2.0 authorization code with mandatory PKCE (S256), T21 as a confidential client (Basic
auth at the token endpoint); 2-hour access tokens and single-use refresh tokens (with
`offline.access`). Media goes through the dedicated upload endpoints, videos and GIFs are
polled until processed. Every failure is classified in `wire`.
"""

from t21.platforms.twitter.provider import TwitterOptions, TwitterProvider

__all__ = ["TwitterOptions", "TwitterProvider"]
