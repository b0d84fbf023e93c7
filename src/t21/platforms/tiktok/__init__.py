"""TikTok (Login Kit v2 + Content Posting API): `TikTokProvider`, its options and limits."""

from t21.platforms.tiktok.provider import TikTokProvider
from t21.platforms.tiktok.rules import LIMITS, PrivacyLevel, TikTokOptions

__all__ = ["LIMITS", "PrivacyLevel", "TikTokOptions", "TikTokProvider"]
