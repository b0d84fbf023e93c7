"""How often each network lets one account publish (PLATFORMS.md), so T21 waits its turn rather
than collecting 429s. A wait is a later `due_at`, never a sleep in a worker. Each provider
answers its own (`publish_budget`)."""

from __future__ import annotations

from t21.platforms import registry
from t21.platforms.base import Budget

__all__ = ["Budget", "budget_for"]


def budget_for(platform: str) -> Budget | None:
    """The publishing budget of one account at `platform`; None for no budget of T21's own."""
    try:
        return registry.provider_class(platform).publish_budget
    except LookupError:
        return None
