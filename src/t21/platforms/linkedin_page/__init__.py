"""LinkedIn Pages: posts authored by an organization (`urn:li:organization:<id>`) that the
signed-in member administers, through the same versioned REST API as member posts
(`t21.platforms.linkedin`: its client, wire and media modules are reused as they are).

Facts the adapter relies on, with their sources (learn.microsoft.com/en-us/linkedin/marketing/
community-management/…):

- Scopes: posting as a page needs `w_organization_social`, reading its posts
  (`GET /rest/posts?q=author&author=urn:li:organization:…`) `r_organization_social`, each
  "restricted to organizations in which the authenticated member has one of the following
  company page roles" (…/shares/posts-api, permissions table). These come with the Community
  Management API product (…/community-management/overview), which needs LinkedIn's review.
- The pages: `GET /rest/organizationAcls?q=roleAssignee` lists the member's roles on pages,
  filtered by `role` and `state` (…/organizations/organization-access-control-by-role);
  `GET /rest/organizations/{id}` gives the page's `localizedName` and `vanityName`
  (…/organizations/organization-lookup-api). T21 asks `rw_organization_admin` for both and
  for the statistics below; which weaker scope would list the ACLs is not stated plainly.
- Metrics: `GET /rest/organizationalEntityShareStatistics?q=organizationalEntity&
  organizationalEntity=…&shares=List(…)&ugcPosts=List(…)` gives per post
  `totalShareStatistics` (impressionCount, uniqueImpressionsCount, likeCount, commentCount,
  shareCount, clickCount); rw_organization_admin with the ADMINISTRATOR role; organic only,
  the last 12 months (…/organizations/share-statistics).
- Tokens are the member's (60 days, refresh tokens for approved partners, as for
  `linkedin`); one sign-in gives one account per page sharing that token, so disconnecting a
  page doesn't revoke it. Errors and the daily limits (midnight UTC) are those of `linkedin`.

Sources (the facts the adapter relies on, cited where used):
Source: https://learn.microsoft.com/en-us/linkedin/marketing/
"""

from t21.platforms.linkedin_page.provider import LinkedInPageOptions, LinkedInPageProvider

__all__ = ["LinkedInPageOptions", "LinkedInPageProvider"]
