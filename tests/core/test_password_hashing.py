"""Password hashing: one core per hash, and a burst of sign-ins waits for the hashing pool instead
of taking every core from the rest of the API."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from t21.core import security


class CountingHasher:
    """A hasher that notes how many of its calls run at the same time."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self.priorities: set[int] = set()
        self._lock = threading.Lock()

    def _work(self) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
            if sys.platform == "linux":
                self.priorities.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        time.sleep(0.02)
        with self._lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._work()
        return f"hashed:{password}"

    def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        self._work()
        return stored == f"hashed:{password}", None


async def test_a_burst_of_sign_ins_runs_at_most_the_pools_size_of_hashes_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(security, "_password_hash", hasher)
    burst = 4 * security.PASSWORD_HASHING_THREADS + 2

    verdicts = await asyncio.gather(
        *(security.verify_password("right", "hashed:right") for _ in range(burst)),
        *(security.verify_password("wrong", "hashed:right") for _ in range(burst)),
    )
    hashes = await asyncio.gather(*(security.hash_password(f"p{i}") for i in range(burst)))

    assert [ok for ok, _ in verdicts] == [True] * burst + [False] * burst
    assert hashes == [f"hashed:p{i}" for i in range(burst)]
    assert hasher.most == security.PASSWORD_HASHING_THREADS
    assert all(name.startswith("t21-password") for name in hasher.threads)


def test_the_pool_takes_half_the_cores_and_at_least_one() -> None:
    assert security.PASSWORD_HASHING_THREADS >= 1
    assert security._hashing._max_workers == security.PASSWORD_HASHING_THREADS


async def test_new_hashes_use_one_lane_and_older_four_lane_hashes_verify_and_are_upgraded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The production parameters, at a memory cost a test can afford; only the lanes differ.
    def cheap(lanes: int) -> PasswordHash:
        return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=64, parallelism=lanes),))

    monkeypatch.setattr(security, "_password_hash", cheap(1))
    older = cheap(4).hash("correct horse")

    fresh = await security.hash_password("correct horse")
    ok, upgraded = await security.verify_password("correct horse", older)
    wrong, none = await security.verify_password("wrong horse", older)

    assert ",p=1$" in fresh
    assert ok
    assert upgraded is not None
    assert ",p=1$" in upgraded
    assert not wrong
    assert none is None


def test_production_hashes_are_argon2id_of_64_mib_three_passes_one_lane() -> None:
    # The production hasher itself (the suite signs in with a cheaper one).
    assert security.ARGON2.hash("correct horse").startswith("$argon2id$v=19$m=65536,t=3,p=1$")


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
async def test_hashes_run_at_a_lower_priority_than_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a core shared with the event loop, a burst of sign-ins takes the CPU the requests
    leave rather than slowing every request."""
    hasher = CountingHasher()
    monkeypatch.setattr(security, "_password_hash", hasher)
    await asyncio.gather(*(security.hash_password(f"p{i}") for i in range(3)))
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert hasher.priorities == {min(19, loop_priority + security.PASSWORD_HASHING_NICENESS)}
