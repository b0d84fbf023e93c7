"""Background jobs: Redis, the broker and the workers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JobSettings(BaseModel):
    """The broker and the workers."""

    # --- jobs ----------------------------------------------------------------------------------
    redis_url: str | None = None
    redis_prefix: str = Field(default="t21", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    broker_idle_timeout_s: int = Field(default=600, ge=1)
    broker_lock_timeout_s: float = Field(default=30.0, gt=0)
    # A worker's job consumer survives broker faults (flush, restart, timeouts): it retries with
    # backoff doubling up to `broker_retry_max_s`, claims back messages pending longer than the
    # idle timeout every `broker_claim_interval_s` and trims what the group is done with from
    # the stream every `broker_trim_interval_s`. `/health` answers 503 once the consumer has
    # been unable to read the broker for `broker_down_limit_s`, so an orchestrator restarts it.
    broker_retry_max_s: float = Field(default=5.0, gt=0, le=300)
    broker_claim_interval_s: float = Field(default=15.0, gt=0)
    broker_trim_interval_s: float = Field(default=30.0, gt=0)
    broker_down_limit_s: float = Field(default=180.0, gt=0)
    worker_concurrency: int = Field(default=50, ge=1)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
