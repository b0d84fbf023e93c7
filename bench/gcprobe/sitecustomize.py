"""Loaded by `bench/soak.py --probe-gc` into the server (through PYTHONPATH): writes every
garbage collection that takes longer than 20 ms (wall-clock time, generation, duration, objects
collected) to the file named by T21_BENCH_GC_LOG, to tell collector pauses from other stalls."""

from __future__ import annotations

import gc
import os
import time

_path = os.environ.get("T21_BENCH_GC_LOG")
_started: dict[str, float] = {}


def _probe(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started["at"] = time.perf_counter()
        return
    took = time.perf_counter() - _started.get("at", time.perf_counter())
    if took >= 0.02 and _path:
        with open(_path, "a") as out:
            out.write(
                f"{time.strftime('%H:%M:%S')} gen={info['generation']} "
                f"took_ms={took * 1000:.0f} collected={info['collected']} "
                f"tracked={len(gc.get_objects()) if info['generation'] == 2 else -1}\n"
            )


if _path:
    gc.callbacks.append(_probe)
