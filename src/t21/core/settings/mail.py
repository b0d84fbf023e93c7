"""Email: the backend (console, SMTP, Resend) and the outbox."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class EmailBackendName(StrEnum):
    CONSOLE = "console"
    SMTP = "smtp"
    RESEND = "resend"


class EmailSettings(BaseModel):
    """Sending email."""

    # --- email ---------------------------------------------------------------------------------
    email_backend: EmailBackendName = EmailBackendName.CONSOLE
    email_from: str = "T21 <no-reply@t21.localhost>"
    email_max_attempts: int = Field(default=8, ge=1)
    email_retry_base_s: float = Field(default=30.0, gt=0)
    email_retry_max_s: float = Field(default=3600.0, gt=0)
    email_lease_s: float = Field(default=300.0, gt=0)
    email_outbox_interval_s: float = Field(default=5.0, gt=0)
    mail_dir: Path | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_tls: bool = False
    smtp_ca_file: Path | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    resend_api_key: SecretStr | None = None
    resend_api_base: str = "https://api.resend.com"
    resend_timeout_s: float = Field(default=15.0, gt=0)
