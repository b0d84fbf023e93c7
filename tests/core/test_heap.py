"""`t21 serve` and `t21 worker` keep glibc to a few malloc arenas, so memory their threads free is
reused instead of piling up in arenas of its own (bench/README.md, "Where the publishing run's
memory went"); `t21 serve` freezes the heap again once warm."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
from typing import Any

import pytest

from t21.core.heap import FreezeOnceWarm

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")

# Eight threads alive at once each allocate (blocks over pymalloc's 512 bytes go to malloc), then
# glibc describes its heaps: one `<heap nr=…>` per arena.
PROGRAM = """
import ctypes, sys, threading
from t21.core.heap import limit_malloc_arenas

applied = limit_malloc_arenas(int(sys.argv[1]))
together = threading.Barrier(8)

def allocate():
    together.wait()
    for _ in range(200):
        kept = [bytes(2000) for _ in range(50)]
    together.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.open_memstream.restype = ctypes.c_void_p
text, size = ctypes.c_char_p(), ctypes.c_size_t()
stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(text), ctypes.byref(size)))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(applied, ctypes.string_at(text, size.value).decode().count("<heap nr="))
"""


def _arenas(most: int, **env: str) -> tuple[bool, int]:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    answer = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(most)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )
    applied, heaps = answer.stdout.split()
    return applied == "True", int(heaps)


@glibc
def test_the_limit_keeps_threads_to_that_many_arenas() -> None:
    assert _arenas(2) == (True, 2)


@glibc
def test_without_the_limit_each_thread_gets_an_arena_of_its_own() -> None:
    applied, heaps = _arenas(0)
    assert not applied
    assert heaps > 2


@glibc
def test_the_operators_malloc_arena_max_wins() -> None:
    applied, heaps = _arenas(2, MALLOC_ARENA_MAX="4")
    assert not applied
    assert 2 < heaps <= 4


async def test_serve_freezes_the_heap_again_once_it_has_answered_its_first_requests() -> None:
    seen: list[str] = []

    async def application(scope: Any, _receive: Any, _send: Any) -> None:
        seen.append(scope["type"])

    warm = FreezeOnceWarm(application, 3)
    gc_frozen = []
    try:
        await warm({"type": "lifespan"}, None, None)
        for _ in range(2):
            await warm({"type": "http"}, None, None)
        gc_frozen.append(gc.get_freeze_count())
        kept = [object() for _ in range(10)], {"a": [1]}
        await warm({"type": "http"}, None, None)
        gc_frozen.append(gc.get_freeze_count())
        await warm({"type": "http"}, None, None)
        gc_frozen.append(gc.get_freeze_count())
    finally:
        gc.unfreeze()
    assert kept
    assert seen == ["lifespan", "http", "http", "http", "http"]
    # Frozen on the third request, once: the fourth adds nothing.
    assert gc_frozen[1] > gc_frozen[0]
    assert gc_frozen[2] == gc_frozen[1]
