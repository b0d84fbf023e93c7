"""The harness itself: with `T21_TEST_REQUIRE_SERVICES=1` (CI), a run that would leave out the
PostgreSQL or Redis tests fails instead of passing quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A file with tests marked for both services; collecting it is enough (nothing connects).
SERVICE_TESTS = "tests/publishing/test_chaos.py"
SHAPED_URLS = {
    "T21_TEST_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
    "T21_TEST_REDIS_URL": "redis://127.0.0.1:9/0",
}


def collect(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            SERVICE_TESTS,
            *args,
        ],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_misspelled_database_url_fails_the_run() -> None:
    done = collect(
        T21_TEST_REQUIRE_SERVICES="1",
        T21_TEST_DATABASE_URL="postgresq://nobody@127.0.0.1:9/none",
        T21_TEST_REDIS_URL=SHAPED_URLS["T21_TEST_REDIS_URL"],
    )
    assert done.returncode != 0
    assert "not a postgresql:// URL" in done.stdout + done.stderr


def test_service_tests_deselected_with_m_fail_the_run() -> None:
    done = collect("-m", "not postgres", T21_TEST_REQUIRE_SERVICES="1", **SHAPED_URLS)
    assert done.returncode != 0
    assert "were deselected" in done.stdout + done.stderr
