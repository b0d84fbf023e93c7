"""Email backends behind one protocol: console (files under var/mail), SMTP and Resend.

A backend sends one message and classifies every failure as `Retryable` or `Permanent`
(`t21.core.outside`); the outbox decides what to do about it.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import aiosmtplib
import httpx

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Permanent, Retryable
from t21.core.settings import EmailBackendName, Settings
from t21.core.tls import tls_context

log = get_logger("t21.email")


@dataclass(frozen=True)
class OutgoingMessage:
    """One email, ready to send. `key` is stable across retries of the same email."""

    key: str
    sender: str
    to: str
    subject: str
    text: str
    html: str | None


class EmailBackend(Protocol):
    name: str

    async def send(self, message: OutgoingMessage) -> str | None:
        """Deliver `message`; returns the provider's message id when it gives one."""


def to_mime(message: OutgoingMessage) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = message.sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(clock.now())
    # A stable Message-ID lets receivers drop a copy sent again after an unclear failure.
    # (`make_msgid` would add the time and a random number, a new id on every attempt.)
    mime["Message-ID"] = f"<{message.key}@t21.mail>"
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class ConsoleBackend:
    """Development backend: writes each email as an .eml file and logs where it went."""

    name = EmailBackendName.CONSOLE.value

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def send(self, message: OutgoingMessage) -> str | None:
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
        path = self.mail_dir / f"{stamp}-{message.key}.eml"
        try:
            # The emails carry sign-in and reset links: the owner alone may read them, from
            # the moment the file exists (mode 0600 at creation, not chmod afterwards).
            self.mail_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(bytes(to_mime(message)))
        except OSError as exc:
            raise Retryable(f"could not write {path}: {exc.strerror}") from exc
        # Bodies stay out of the log: they may carry single-use links.
        log.info("email written", to=message.to, subject=message.subject, file=str(path))
        return path.name


class SmtpBackend:
    name = EmailBackendName.SMTP.value

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise Permanent("T21_SMTP_HOST is not set", code="smtp_not_configured")
        self.settings = settings

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.smtp_ca_file is not None:
            context.load_verify_locations(cafile=str(self.settings.smtp_ca_file))
        return context

    async def send(self, message: OutgoingMessage) -> str | None:
        s = self.settings
        uses_tls = s.smtp_tls or s.smtp_starttls
        try:
            errors, _reply = await aiosmtplib.send(
                to_mime(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls,
                tls_context=self._tls_context() if uses_tls else None,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= code < 600 for code in codes):
                raise Permanent(f"recipient refused: {detail}", code="recipient_refused") from exc
            raise Retryable(f"recipient deferred: {detail}") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are an operator's to fix: keep the email and try again later.
            raise Retryable(f"SMTP authentication failed ({exc.code})", code="smtp_auth") from exc
        except (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError) as exc:
            raise Retryable(f"SMTP server not accepting mail ({exc.code} {exc.message})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            text = f"SMTP server answered {exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise Permanent(text, code="smtp_rejected") from exc
            raise Retryable(text) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Retryable(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
        if errors:
            raise Permanent(f"recipient refused: {errors}", code="recipient_refused")
        return None


class ResendBackend:
    """Resend's HTTP API, with the outbox row id as `Idempotency-Key`: a retry never doubles."""

    name = EmailBackendName.RESEND.value

    def __init__(self, settings: Settings) -> None:
        if settings.resend_api_key is None:
            raise Permanent("T21_RESEND_API_KEY is not set", code="resend_not_configured")
        self.settings = settings

    async def send(self, message: OutgoingMessage) -> str | None:
        s = self.settings
        assert s.resend_api_key is not None
        payload: dict[str, object] = {
            "from": message.sender,
            "to": [message.to],
            "subject": message.subject,
            "text": message.text,
        }
        if message.html is not None:
            payload["html"] = message.html
        headers = {
            "Authorization": f"Bearer {s.resend_api_key.get_secret_value()}",
            "Idempotency-Key": message.key,
            "User-Agent": "t21",
        }
        try:
            async with httpx.AsyncClient(
                base_url=s.resend_api_base, timeout=s.resend_timeout_s, verify=tls_context()
            ) as client:
                response = await client.post("/emails", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            # The same idempotency key makes the retry safe even if this one got through.
            raise Retryable(f"Resend unreachable: {type(exc).__name__}") from exc
        if response.status_code == 200:
            body = _json(response)
            message_id = body.get("id")
            return str(message_id) if message_id else None
        raise _classify_resend(response)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _classify_resend(response: httpx.Response) -> Retryable | Permanent:
    body = _json(response)
    name = str(body.get("name") or "")
    text = f"Resend answered {response.status_code} {name}: {body.get('message') or ''}".strip()
    status = response.status_code
    if status == 429:
        return Retryable(text, after=_retry_after(response), code=name or "rate_limit_exceeded")
    if status >= 500:
        return Retryable(text, code=name or "application_error")
    if status == 409 and name == "concurrent_idempotent_requests":
        return Retryable(text, after=1.0, code=name)
    if status in (401, 403) and name in {
        "missing_api_key",
        "restricted_api_key",
        "invalid_api_key",
    }:
        # A key problem is the operator's to fix; the email waits for it.
        return Retryable(text, code=name)
    return Permanent(text, code=name or f"http_{status}")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the service asked us to wait: `Retry-After` as seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - clock.now()).total_seconds())


def build_backend(settings: Settings) -> EmailBackend:
    """The backend `T21_EMAIL_BACKEND` names, built for one use."""
    if settings.email_backend is EmailBackendName.SMTP:
        return SmtpBackend(settings)
    if settings.email_backend is EmailBackendName.RESEND:
        return ResendBackend(settings)
    return ConsoleBackend(settings.resolved_mail_dir)
