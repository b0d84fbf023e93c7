"""What the shared HTTP stack costs: requests per second and latency through `t21 serve`.

Starts `t21 serve` (embedded mode) on a free loopback port in a temporary directory and sends
`--requests` requests with `--concurrency` clients to a route that passes every middleware
(request id, rate limit, body limit, error handling) and to `/health`, then prints the
throughput and latency percentiles. Run: `.venv/bin/python bench/http_overhead.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def measure(base: str, path: str, requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(requests))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in counter:
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 500 or response.status_code == 429:
                    raise RuntimeError(f"{path} answered {response.status_code}")

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": requests / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()

    port = free_port()
    t21 = Path(sys.executable).parent / "t21"
    with tempfile.TemporaryDirectory() as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
        env |= {"T21_RATE_LIMIT_PER_IP": "1000000/minute", "T21_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [str(t21), "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("t21 serve did not become ready")
                time.sleep(0.2)
            for path in ("/health", "/api/v1/does-not-exist"):
                asyncio.run(measure(base, path, min(500, args.requests), args.concurrency))
                result = asyncio.run(measure(base, path, args.requests, args.concurrency))
                print(
                    f"{path:28} {result['rps']:8.0f} req/s   p50 {result['p50_ms']:6.2f} ms"
                    f"   p95 {result['p95_ms']:6.2f} ms   p99 {result['p99_ms']:6.2f} ms"
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
