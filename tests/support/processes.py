"""`t21` commands run as processes of their own on loopback, for the tests that need a real second
process: started with only the T21_* variables given, waited for until they answer, stopped with
SIGTERM as an operator would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
STARTUP_LIMIT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without its T21_* variables, with `values` added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
    env.update(values)
    return env


def start(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`t21 <args>` started, its output kept for `stop` (or for the failure that shows it)."""
    return subprocess.Popen(
        [str(BIN / "t21"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(url: str, process: subprocess.Popen[bytes], limit: float = STARTUP_LIMIT_S) -> None:
    """Until `url` answers 200; fails with the process's output if it exits first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"the process exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {limit} s")


def stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then the process's whole output once it has exited (within 30 s)."""
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail("the process did not stop within 30 s of SIGTERM")
    return output.decode()


def kill(processes: list[subprocess.Popen[bytes]]) -> None:
    """Whatever of `processes` still runs, killed (a test's clean-up after a failure)."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
