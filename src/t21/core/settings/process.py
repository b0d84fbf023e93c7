"""The process itself: where it runs, how it answers HTTP, what it logs and traces."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import NoDecode


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ProcessSettings(BaseModel):
    """The process: environment, secret, data folder, address."""

    # --- the process -------------------------------------------------------------------------
    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    frontend_url: str | None = None
    forwarded_allow_ips: str = "127.0.0.1"
    # The most malloc arenas (glibc) a `t21 serve` or `t21 worker` process uses; 0 leaves
    # glibc's own limit (8 per core). A `MALLOC_ARENA_MAX` in the environment wins. See
    # `t21.core.heap`.
    malloc_arena_max: int = Field(default=2, ge=0, le=64)


class HttpSettings(BaseModel):
    """HTTP: CORS, request size, rate limits, the principal cache, what is served."""

    # --- HTTP ----------------------------------------------------------------------------------
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_request_bytes: int = Field(default=1_048_576, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    # How long a resolved principal (user or API key, memberships, roles) is reused without
    # asking the database: the longest a revocation another process missed (Redis down) can
    # take to be seen. Every change is otherwise applied at its commit. 0 turns the cache off.
    principal_cache_ttl_s: float = Field(default=5.0, ge=0, le=60)
    metrics_token: SecretStr | None = None

    # --- hardening ------------------------------------------------------------------------------
    # Serve the interactive docs (/docs) and the OpenAPI document (/openapi.json); turn off to
    # keep the API's map private (the contract is in API.md either way).
    api_docs: bool = True
    # The most pixels (width x height) an uploaded image may have: checked from its header
    # before anything is decoded, 422 above it. The default is the largest any network accepts
    # (LinkedIn: fewer than 36,152,320).
    media_max_image_pixels: int = Field(default=36_152_319, ge=1)


class ObservabilitySettings(BaseModel):
    """Logs and traces."""

    # --- logs ----------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # --- traces (OpenTelemetry; off unless an endpoint is set) ---------------------------------
    # The OTLP/HTTP collector, e.g. http://otel-collector:4318 (traces go to /v1/traces).
    otel_endpoint: str | None = None
    otel_service_name: str = "t21"
    otel_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
