"""LinkedIn: member posts through the versioned Posts API (`/rest/posts`), images and videos
through the Images and Videos APIs, and member post analytics.

OAuth 2.0 three-legged without PKCE; access tokens live 60 days; refresh tokens only for
approved partners, never rotated, expiring 365 days after the first grant. Every `/rest/*` call
carries `LinkedIn-Version` and `X-Restli-Protocol-Version`. Failures are classified in `wire`.
"""

from t21.platforms.linkedin.provider import LinkedInOptions, LinkedInProvider

__all__ = ["LinkedInOptions", "LinkedInProvider"]
