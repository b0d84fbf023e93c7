"""The process's heaps: how many malloc arenas glibc may create, and what Python's collector
leaves alone (`freeze_heap`, `FreezeOnceWarm`).

glibc gives a thread that finds the arenas in use an arena of its own, up to 8 per core. T21's
threads (one per SQLite connection, the password hashes' pool, the thread pool of sync code)
allocate rows, strings and SQLite's pages in their arenas, and what the event loop frees there
goes back to that arena's free lists rather than to the system. Measured with `bench/soak.py
--publishing` (bench/README.md, "Where the publishing run's memory went"): over 10 minutes the
Python objects (`sys.getallocatedblocks()`, the collector's count) and SQLite's own memory stayed
flat while glibc's arenas grew 55 → 71 MiB, almost all of it free chunks between live ones, so
`malloc_trim()` gave back 2 MiB; with two arenas the same run stayed flat. `MALLOC_ARENA_MAX`
would do the same, but only if set before the process starts; `mallopt(M_ARENA_MAX)` applies to
the arenas made after it, so `t21 serve` and `t21 worker` call it first thing.
https://www.gnu.org/software/libc/manual/html_node/Memory-Allocation-Tunables.html
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform
from typing import Any

# mallopt's parameter number for the arena limit, from glibc's malloc.h.
M_ARENA_MAX = -8


def limit_malloc_arenas(most: int) -> bool:
    """Let glibc create at most `most` malloc arenas in this process; True if it was set.

    Nothing is changed when `most` is 0, when `MALLOC_ARENA_MAX` is in the environment (glibc
    has already applied the operator's choice) or when the C library is not glibc.
    """
    if most <= 0 or "MALLOC_ARENA_MAX" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, most))


def freeze_heap() -> None:
    """Move everything built so far (modules, the app, its routes and schemas: most of the
    ~300,000 objects the collector tracks) out of the collector's reach, once, before serving.

    Without this, every full (generation 2) collection walks all of them: under 50 requests/s
    one ran about every 60 s and held the event loop 100-360 ms (every route slow at once,
    measured with bench/soak.py --probe-gc). After the freeze a full collection only walks what
    was made since, which is small. https://docs.python.org/3/library/gc.html#gc.freeze
    """
    gc.collect()
    gc.freeze()


# Requests answered before the heap is frozen a second time (`FreezeOnceWarm`).
WARM_AFTER_REQUESTS = 1000


class FreezeOnceWarm:
    """The app, which freezes the heap a second time once it has answered its first requests.

    What the first requests build stays for the process's life: the routes' lazily prepared
    dependencies and schemas, the statements and their compiled forms, the pools' connections,
    the caches. Left outside the first freeze (~46,000 objects), they were walked by every full
    collection, every 3-5 s under load at 18-31 ms each, a pause every request in flight waits
    out. One collection and freeze once warm (itself one such pause) leaves the later ones only
    what was made since. An object of a request in flight then, if it ends in a reference cycle,
    is never collected: a bounded, one-time cost."""

    __slots__ = ("app", "left")

    def __init__(self, app: Any, requests: int) -> None:
        self.app = app
        self.left = requests

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.left and scope["type"] == "http":
            self.left -= 1
            if not self.left:
                freeze_heap()
        await self.app(scope, receive, send)
