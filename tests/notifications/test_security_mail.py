"""Emails written to the mail folder carry sign-in and reset links: only their owner reads them."""

from __future__ import annotations

import stat

import httpx

from t21.core.runtime import Runtime
from t21.worker.queue import JobQueue
from tests.support.accounts import register


async def test_mail_files_are_readable_by_their_owner_only(
    client: httpx.AsyncClient, runtime: Runtime, jobs: JobQueue
) -> None:
    await register(client)
    await jobs.drain(timeout=20)
    folder = runtime.settings.resolved_mail_dir
    written = list(folder.glob("*.eml"))
    assert written
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
