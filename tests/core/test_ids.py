"""UUIDv7 ids: valid version and variant, time-ordered, unique."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from t21.core.ids import uuid7, uuid7_time_ms


def test_uuid7_has_version_7_and_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_embeds_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after + 1


@given(st.integers(min_value=2, max_value=5000))
def test_uuid7_sorts_in_creation_order(count: int) -> None:
    values = [uuid7() for _ in range(count)]
    assert values == sorted(values)
    assert sorted(v.hex for v in values) == [v.hex for v in values]
    assert len(set(values)) == count
