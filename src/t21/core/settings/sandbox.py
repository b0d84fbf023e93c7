"""The sandbox: the local fakes of outside services."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# Where `t21 serve` and `t21 sandbox` serve the sandbox unless told otherwise.
SANDBOX_PORT = 8025


class SandboxSettings(BaseModel):
    """Where the sandbox runs and how its fakes behave."""

    # --- sandbox --------------------------------------------------------------------------------
    sandbox: Literal["auto", "on", "off"] = "auto"
    sandbox_url: str | None = None
    # Unset: 8025 (as `t21 sandbox`), so the sandbox's address survives a restart; 0 = any
    # free port. A port in use falls back to a free one (logged).
    sandbox_port: int | None = Field(default=None, ge=0, le=65535)
    # The fakes' world (tokens, users, Stripe customers...) survives restarts in this file.
    # Unset: `sandbox-state.pickle` in T21_DATA_DIR, beside T21's database.
    sandbox_state_file: Path | None = None
    # Whether the fake networks' published posts gather plausible numbers as time passes, so
    # analytics show something minutes after publishing (`t21 analytics collect` collects now).
    sandbox_grow_metrics: bool = True
    # Whether the fake networks refuse a post identical to one the account already has, as the
    # real ones do. Off, a second send of the same post is accepted and shows in the fakes'
    # send records (`GET /<fake>/_control/sends`): the chaos test runs so. Each run can also
    # switch it with `POST /<fake>/_control/duplicates`.
    sandbox_refuse_duplicates: bool = True
