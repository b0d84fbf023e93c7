"""LinkedIn: member posts through the versioned Posts API (`/rest/posts`), images and videos
through the Images and Videos APIs, and member post analytics.

OAuth 2.0 three-legged without PKCE; access tokens live 60 days; refresh tokens only for
approved partners, never rotated, expiring 365 days after the first grant. Every `/rest/*` call
carries `LinkedIn-Version` and `X-Restli-Protocol-Version`. Failures are classified in `wire`.

Facts the adapter relies on, with their sources:

- Scopes: a new app's self-serve products give `openid profile email` ("Sign In with LinkedIn
  using OpenID Connect", learn.microsoft.com/linkedin/consumer/integrations/self-serve/
  sign-in-with-linkedin-v2) and `w_member_social` ("Share on LinkedIn",
  …/consumer/integrations/self-serve/share-on-linkedin). `r_member_postAnalytics` comes with the
  Community Management API product (…/community-management/members/post-statistics);
  `r_member_social` is restricted (…/community-management/shares/posts-api, permissions table).
  Asking for a scope the app lacks fails the sign-in with `unauthorized_scope_error`, so the
  defaults are the self-serve ones and `T21_LINKEDIN_SCOPES` adds the others where the app has
  them.
- Reading posts by author (`GET /rest/posts?q=author`) needs `r_member_social` for a member and
  `r_organization_social` for a page (posts-api page); without it T21 doesn't ask and says it
  can't check (`find_recent_blocker`): an interrupted publish goes to review saying so.
- Member post analytics (`memberCreatorPostAnalytics`, q=entity, one queryType per call) need
  `r_member_postAnalytics`; without it the numbers are skipped with the reason recorded.
- Every `/rest/*` call needs `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version: 2.0.0`
  (…/community-management/shares/images-api, Schema note); `POST /rest/posts` answers 201 with
  the post's URN in `x-restli-id` (posts-api page).
- Tokens: access tokens live 60 days; refresh tokens only for approved partners, valid 365 days
  from the first authorization whatever the refreshes (…/shared/authentication/
  programmatic-refresh-tokens). Without one, the owners are warned once before the token dies.
- Errors: 401 REVOKED_ACCESS_TOKEN (65601) / EXPIRED_ACCESS_TOKEN, 403 ACCESS_DENIED, 429 when a
  daily limit is spent, reset at midnight UTC (…/shared/api-guide/concepts/error-handling,
  …/rate-limits).

Sources (the facts the adapter relies on, cited where used):
Source: https://learn.microsoft.com/linkedin/consumer/integrations/self-serve/
Source: https://learn.microsoft.com/linkedin/marketing/community-management/shares/comments-api
"""

from t21.platforms.linkedin.provider import LinkedInOptions, LinkedInProvider

__all__ = ["LinkedInOptions", "LinkedInProvider"]
