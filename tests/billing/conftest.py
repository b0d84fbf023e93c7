"""Billing's tests run with the plans' real limits (elsewhere the suite makes them roomy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from t21.core.settings import Settings


@pytest.fixture
def settings_factory(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        overrides.setdefault("plan_limits", None)
        return settings_factory(**overrides)

    return build
