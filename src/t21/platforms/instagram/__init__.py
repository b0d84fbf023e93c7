"""Instagram (Instagram API with Instagram Login): see `provider` for connecting, `publishing`
for the container flow, `errors` for how failures are classified."""

from t21.platforms.instagram.provider import InstagramProvider
from t21.platforms.instagram.rules import LIMITS, InstagramOptions

__all__ = ["LIMITS", "InstagramOptions", "InstagramProvider"]
