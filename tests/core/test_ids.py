"""UUIDv7 ids: valid version and variant, time-ordered, unique."""

from __future__ import annotations

import copy
import os
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


def test_a_uuid7_is_a_uuid_like_any_other() -> None:
    value = uuid7()
    parsed = uuid.UUID(str(value))
    assert value == parsed
    assert hash(value) == hash(parsed)
    assert copy.deepcopy(value) == value
    assert value.is_safe is uuid.SafeUUID.unknown
    assert repr(value) == f"UUID('{value}')"


def test_a_forked_child_draws_its_own_randomness() -> None:
    """Random bytes are read from the OS in advance: a child process must not reuse the ones
    its parent will use next, or the two could make the same id in the same millisecond."""
    uuid7()  # the pool is filled
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(reader)
        os.write(writer, b"".join(uuid7().bytes[8:] for _ in range(50)))
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = b"".join(uuid7().bytes[8:] for _ in range(50))
    # The last 62 bits of each id are its random part; none of the child's is the parent's.
    child_random = {child[start + 1 : start + 8] for start in range(0, len(child), 8)}
    parent_random = {parent[start + 1 : start + 8] for start in range(0, len(parent), 8)}
    assert len(child_random) == 50
    assert not child_random & parent_random
