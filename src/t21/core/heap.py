"""The process's C heap: how many malloc arenas glibc may create.

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
import os
import platform

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
