"""Does a failed sign-in take as long for an unknown email as for a known one?

An attacker who could time the answers would learn which emails have accounts. This runs the API
in-process on a fresh SQLite database, registers one account, then alternates failed sign-ins
for that account and for unknown emails (`--rounds` each, throttling off) and prints the
median and spread of each. Run: `.venv/bin/python bench/login_timing.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from t21.api import create_app
from t21.core import migrations
from t21.core.logging import configure_logging
from t21.core.settings import load_settings


async def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        settings = load_settings(
            _env_file=None,
            data_dir=Path(workdir),
            secret_key="b" * 48,
            log_level="WARNING",
            login_failures_per_account="1000000/minute",
            login_failures_per_ip="1000000/minute",
            rate_limit_auth_per_ip="1000000/minute",
            rate_limit_per_ip="1000000/minute",
        )
        configure_logging(settings)
        await migrations.upgrade(settings)
        app = create_app(settings, loops=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                registered = await http.post(
                    "/api/v1/auth/register",
                    json={
                        "email": "known@example.com",
                        "password": "a fine passphrase",
                        "name": "K",
                    },
                )
                assert registered.status_code == 201
                timings: dict[str, list[float]] = {"known email": [], "unknown email": []}
                for index in range(rounds):
                    for label, email in (
                        ("known email", "known@example.com"),
                        ("unknown email", f"nobody{index}@example.com"),
                    ):
                        started = time.perf_counter()
                        answer = await http.post(
                            "/api/v1/auth/login", json={"email": email, "password": "wrong guess"}
                        )
                        timings[label].append(time.perf_counter() - started)
                        assert answer.status_code == 401
    for label, values in timings.items():
        ms = [v * 1000 for v in values]
        print(
            f"{label:14} median {statistics.median(ms):7.2f} ms   "
            f"p10 {statistics.quantiles(ms, n=10)[0]:7.2f} ms   "
            f"p90 {statistics.quantiles(ms, n=10)[-1]:7.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
