"""How often each network lets one account publish (PLATFORMS.md), so T21 waits its turn rather
than collecting 429s. A wait is a later `due_at`, never a sleep in a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Budget:
    posts: int
    window: timedelta


BUDGETS: dict[str, Budget] = {
    # 100 posts per 15 minutes per user [xdocs rate limits].
    "twitter": Budget(100, timedelta(minutes=15)),
    # 50 published posts per rolling 24 h per account [docs content_publishing_limit].
    "instagram": Budget(50, timedelta(hours=24)),
    # About 150 posts a day per member; the day resets at 00:00 UTC [docs rate limits].
    "linkedin": Budget(150, timedelta(hours=24)),
    # 6 publish inits per minute per token [docs content posting API].
    "tiktok": Budget(6, timedelta(minutes=1)),
    # Pages publish without a documented post quota; reels are 30 per 24 h [docs reels].
    "facebook": Budget(200, timedelta(hours=24)),
}
