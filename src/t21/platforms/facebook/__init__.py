"""Facebook Pages (Graph API): `FacebookProvider`, its options and limits."""

from t21.platforms.facebook.provider import LIMITS, FacebookOptions, FacebookProvider

__all__ = ["LIMITS", "FacebookOptions", "FacebookProvider"]
