"""Facebook Pages (Graph API): `FacebookProvider`, its options and limits.

Sources (the facts the adapter relies on, cited where used):
Source: https://developers.facebook.com/docs/video-api/guides/insights
Source: https://developers.facebook.com/blog/post/2022/12/15/introducing-reels-metrics-api/
Source: https://developers.facebook.com/docs/graph-api/reference/object/comments/#publish
"""

from t21.platforms.facebook.provider import LIMITS, FacebookOptions, FacebookProvider

__all__ = ["LIMITS", "FacebookOptions", "FacebookProvider"]
