"""A fake of the Graph API as Facebook Pages use it: Facebook Login with the long-lived token
exchange and `/me/accounts` Page tokens, publishing (feed, photos, videos, reels with their
upload URL), comments, posts, insights, and Graph's error envelopes.

It answers like Graph: parameters from the query, a form or a JSON body; errors as
`{"error": {...}}` at HTTP 400 (500 for codes 1 and 2); media pulled from their URLs and
checked by their bytes; videos "processing" for a few status reads before they are ready; 30
reels per Page per rolling 24 h; identical status updates refused as duplicates (506).
`/_control` (besides the shared faults, tokens, published and requests) sets the user's Pages,
the permissions declined at the next login, video processing and the reels quota, and gives
posts their insights.
"""

from t21.sandbox.facebook.app import create_facebook_app
from t21.sandbox.facebook.state import FacebookState

__all__ = ["FacebookState", "create_facebook_app"]
