"""Google Business Profile (`google_business`): local posts on a business's Search and Maps
listing, through the Business Profile APIs with the person's Google token.

Connecting: Google OAuth for web server apps with offline access (`t21.platforms.google_oauth`),
scope `business.manage`. The sign-in's token reaches every location the person manages; T21
makes one account per location (its id is the v4 name `accounts/{a}/locations/{l}`), all
sharing that token. `GET /social-accounts/{id}/locations` lists the locations the same sign-in
manages (the account's own among them). Disconnecting one location revokes the grant only when
it reaches no other location.

Publishing: `localPosts.create` with topicType STANDARD, EVENT (event title and schedule) or
OFFER (an event's title and dates, plus couponCode, redeemOnlineUrl, termsConditions), a
callToAction (BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP with a url; CALL without one; none on an
offer), and one photo Google downloads from T21's link (`media[].sourceUrl`). The post's name
is its external id, its `searchUrl` its permalink. A doubtful publish is settled by reading
`localPosts.list` (no idempotency key exists). Google gives no per-post numbers any more.

Facts the adapter relies on, with their sources:

- Scope https://www.googleapis.com/auth/business.manage for every method used. Source:
  https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/create
- accounts.list: `GET https://mybusinessaccountmanagement.googleapis.com/v1/accounts`,
  `pageSize` at most 20, `{accounts: [{name: "accounts/…", accountName, type}], nextPageToken}`.
  Source: https://developers.google.com/my-business/reference/accountmanagement/rest/v1/accounts/list
- accounts.locations.list: `GET https://mybusinessbusinessinformation.googleapis.com/v1/
  {parent=accounts/*}/locations`, `readMask` required, `pageSize` at most 100, locations named
  `locations/{id}` with `title`. Source:
  https://developers.google.com/my-business/reference/businessinformation/rest/v1/accounts.locations/list
- LocalPost: summary, callToAction {actionType, url}, event {title, schedule {startDate,
  startTime, endDate, endTime}} required for EVENT and OFFER, media [{mediaFormat, sourceUrl}]
  (sourceUrl the only field taken), topicType, offer {couponCode, redeemOnlineUrl,
  termsConditions}; callToAction is ignored for OFFER; output `name`, `state` (LIVE,
  PROCESSING, REJECTED), `searchUrl`, `createTime`. ActionType: BOOK, ORDER, SHOP, LEARN_MORE,
  SIGN_UP, GET_OFFER, CALL; the url is left unset for CALL. Source:
  https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
  and https://developers.google.com/my-business/content/posts-data
- localPosts.list: `pageSize` default 20, at most 100, `{localPosts, nextPageToken}`, no order
  stated. Source:
  https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/list
- Post metrics: the Business Profile Performance API replaced v4 insights and removed
  `accounts.locations.localPosts.reportInsights`; it reports daily metrics per location only.
  Source: https://developers.google.com/my-business/content/performance/change-log and
  https://developers.google.com/my-business/content/sunset-dates (v4 `reportInsights` to the
  Performance API). Its `DailyMetric`s (`BUSINESS_IMPRESSIONS_{DESKTOP,MOBILE}_{MAPS,SEARCH}`,
  `CALL_CLICKS`, `WEBSITE_CLICKS`, `BUSINESS_DIRECTION_REQUESTS`, bookings, food orders) are a
  location's day as a whole (`locations.getDailyMetricsTimeSeries`, whole days only), with no
  dimension naming a post, so none can be given to a post without inventing the split: T21
  collects no numbers for Business Profile targets and says why with each post's analytics
  (`metrics_unavailable`). Source:
  https://developers.google.com/my-business/reference/performance/rest/v1/DailyMetric and
  https://developers.google.com/my-business/reference/performance/rpc/google.mybusiness.performance.v1
- Quotas: 300 requests a minute per API by default; 10 edits a minute per Business Profile;
  a project gets API access (its quota is 0 until then) through the GBP API contact form's
  application for basic API access. Source:
  https://developers.google.com/my-business/content/limits and
  https://developers.google.com/my-business/content/prereqs
- Summary up to 1,500 characters. Source: Google's post guidelines as reported at
  https://www.searchenginejournal.com/google-my-business-changes-post-limit-to-1500-characters/272013/
  (the API reference states no limit).
- Unconfirmed (the reference is silent; the fake is as strict): one photo per post; photos JPG
  or PNG of at most 5 MB (Google's photo guidelines); an event title of at most 58 characters
  (Google's post editor); which 403 reasons mean a disabled API rather than lost access.
"""

from t21.platforms.google_business.provider import GoogleBusinessProvider
from t21.platforms.google_business.rules import GoogleBusinessOptions

__all__ = ["GoogleBusinessOptions", "GoogleBusinessProvider"]
