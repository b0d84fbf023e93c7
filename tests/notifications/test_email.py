"""Email through the outbox: each backend against a real server (files, SMTP on loopback, the
Resend fake over HTTP), and the outbox's promises: retried until it goes, never sent twice,
failed for good when refused or out of attempts, nothing sent for a rolled-back transaction."""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from jinja2 import UndefinedError
from sqlalchemy import func, select

from t21.core.outside import Retryable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.notifications import service
from t21.notifications.models import EmailStatus, OutboundEmail
from t21.notifications.tasks import deliver_email
from t21.worker.loops import LoopRunner
from t21.worker.queue import JobQueue
from tests.notifications.harness import (
    Credentials,
    LoopbackSmtpServer,
    Mailbox,
    ManualClock,
    ResendFake,
    SmtpServers,
    port_of,
)

RECIPIENT = "ada@example.com"
SENDER = "T21 <no-reply@t21.localhost>"
SUBJECT = "T21 email delivery works"
OUTBOX_LOOP = "notifications.email_outbox"
# A value only the email's body carries, to look for where it must not be.
BODY_MARKER = "body-only-5b2e91"

AppFactory = Callable[..., FastAPI]


@dataclass
class Outbox:
    """The email outbox of one running app, driven the way a worker drives it."""

    runtime: Runtime

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def queue(
        self, to: str = RECIPIENT, *, dispatch: bool = True, **context: str
    ) -> uuid.UUID:
        """Queue the delivery test email in its own committed unit of work."""
        values = {"backend": "test", "sent_at": "now", **context}
        async with session_scope(self.runtime) as session:
            email = await service.queue_email(
                session,
                self.settings,
                to=to,
                template="delivery_test",
                context=values,
                dispatch=dispatch,
            )
        return email.id

    async def get(self, email_id: uuid.UUID) -> OutboundEmail:
        async with session_scope(self.runtime) as session:
            email = await session.get(OutboundEmail, email_id)
        assert email is not None
        return email

    async def count(self) -> int:
        async with session_scope(self.runtime) as session:
            return int(await session.scalar(select(func.count()).select_from(OutboundEmail)) or 0)

    async def drain(self) -> None:
        """Run every job queued so far (and those they queue) to completion."""
        assert isinstance(self.runtime.jobs, JobQueue)
        await self.runtime.jobs.drain(timeout=20)

    async def tick(self) -> int:
        """One iteration of the outbox loop, then the deliveries it enqueued; returns how many
        emails it enqueued."""
        runner = self.runtime.state["loops"]
        assert isinstance(runner, LoopRunner)
        enqueued = await runner.run_once(OUTBOX_LOOP)
        await self.drain()
        return enqueued

    def mail_files(self) -> list[Path]:
        return sorted(self.settings.resolved_mail_dir.glob("*.eml"))


@pytest.fixture
def outbox(runtime: Runtime) -> Outbox:
    """The outbox of the default test app (console backend)."""
    return Outbox(runtime)


@asynccontextmanager
async def open_outbox(app_factory: AppFactory, **settings: Any) -> AsyncIterator[Outbox]:
    """Start an app with these settings (as `t21 serve` would) and hand over its outbox."""
    app = app_factory(**settings)
    async with app.router.lifespan_context(app):
        yield Outbox(app.state.runtime)


def smtp_settings(port: int, **overrides: Any) -> dict[str, Any]:
    """SMTP to 127.0.0.1:`port`, in plain text unless `overrides` ask for TLS."""
    return {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_timeout_s": 10,
        **overrides,
    }


def resend_settings(fake: ResendFake, **overrides: Any) -> dict[str, Any]:
    return {
        "email_backend": "resend",
        "resend_api_base": fake.url,
        "resend_api_key": "re_test_0123456789abcdef",
        **overrides,
    }


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and the HTML body of `message`."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return str(text.get_content()), str(html.get_content())


def assert_waiting_for_retry(email: OutboundEmail, clock: ManualClock, *, attempts: int) -> None:
    """Pending for a later attempt, with its bodies kept for it."""
    assert email.status is EmailStatus.PENDING, email.last_error
    assert email.attempts == attempts
    assert email.not_before > clock.now
    assert email.text_body is not None
    assert email.html_body is not None
    assert email.sent_at is None


def assert_failed_for_good(email: OutboundEmail) -> None:
    assert email.status is EmailStatus.FAILED
    assert email.text_body is None
    assert email.html_body is None
    assert email.sent_at is None


# --- console backend and templates --------------------------------------------------------------


async def test_console_backend_writes_an_eml_file_and_clears_the_stored_bodies(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        email_id = await outbox.queue(sent_at=BODY_MARKER)
        await outbox.drain()

    [path] = outbox.mail_files()
    assert email_id.hex in path.name
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == SUBJECT
    assert message["To"] == RECIPIENT
    assert message["From"] == SENDER
    text, html = parts(message)
    assert BODY_MARKER in text
    assert BODY_MARKER in html
    assert html.lstrip().startswith("<!doctype html>")

    email = await outbox.get(email_id)
    assert email.status is EmailStatus.SENT
    assert email.sent_at is not None
    assert email.backend == "console"
    assert email.provider_message_id == path.name
    assert email.attempts == 1
    assert email.text_body is None
    assert email.html_body is None

    logged = [record.msg for record in caplog.records if record.name == "t21.email"]
    assert [event["event"] for event in logged if isinstance(event, dict)] == ["email written"]
    assert str(path) in caplog.text
    assert BODY_MARKER not in caplog.text


async def test_subject_is_one_line_and_html_escapes_context_values(outbox: Outbox) -> None:
    email_id = await outbox.queue(dispatch=False, backend="<script>alert(1)</script>")

    email = await outbox.get(email_id)
    assert email.subject == SUBJECT
    assert "\n" not in email.subject
    assert "\r" not in email.subject
    assert email.html_body is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html_body
    assert "<script>" not in email.html_body
    # The text part is not HTML: the value reads as it was given.
    assert email.text_body is not None
    assert '"<script>alert(1)</script>"' in email.text_body


async def test_missing_template_variable_fails_queueing_and_stores_nothing(
    outbox: Outbox,
) -> None:
    with pytest.raises(UndefinedError, match="sent_at"):
        async with session_scope(outbox.runtime) as session:
            await service.queue_email(
                session,
                outbox.settings,
                to=RECIPIENT,
                template="delivery_test",
                context={"backend": "test"},
            )
    await outbox.drain()
    assert await outbox.count() == 0
    assert outbox.mail_files() == []


# --- SMTP ---------------------------------------------------------------------------------------


async def test_smtp_without_tls_delivers_one_message_with_headers_and_message_id(
    app_factory: AppFactory, smtp_server: LoopbackSmtpServer
) -> None:
    async with open_outbox(app_factory, **smtp_settings(smtp_server.port)) as outbox:
        email_id = await outbox.queue(sent_at=BODY_MARKER)
        await outbox.drain()
        email = await outbox.get(email_id)

    [received] = smtp_server.mailbox.messages
    assert received.mail_from == "no-reply@t21.localhost"
    assert received.rcpt_tos == [RECIPIENT]
    assert not received.tls
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == RECIPIENT
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"].startswith("<")
    assert email_id.hex in message["Message-ID"]
    text, html = parts(message)
    assert BODY_MARKER in text
    assert BODY_MARKER in html

    assert email.status is EmailStatus.SENT
    assert email.backend == "smtp"
    assert email.sent_at is not None
    assert email.text_body is None
    assert email.html_body is None


async def test_smtp_starttls_with_auth_delivers_over_tls(
    app_factory: AppFactory, smtp: SmtpServers, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    server = smtp.start(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=Credentials(b"mailer", b"right-password"),
        auth_require_tls=True,
    )
    settings = smtp_settings(
        server.port,
        smtp_starttls=True,
        smtp_ca_file=ca_file,
        smtp_username="mailer",
        smtp_password="right-password",
    )
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    [received] = server.mailbox.messages
    assert received.tls
    assert received.login == b"mailer"
    assert received.rcpt_tos == [RECIPIENT]
    assert email.status is EmailStatus.SENT
    assert email.backend == "smtp"


async def test_smtp_wrong_password_keeps_the_email_pending_for_a_retry(
    app_factory: AppFactory,
    smtp: SmtpServers,
    server_tls: ssl.SSLContext,
    ca_file: Path,
    manual_clock: ManualClock,
) -> None:
    server = smtp.start(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=Credentials(b"mailer", b"right-password"),
        auth_require_tls=True,
    )
    settings = smtp_settings(
        server.port,
        smtp_starttls=True,
        smtp_ca_file=ca_file,
        smtp_username="mailer",
        smtp_password="wrong-password",
    )
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.last_error is not None
    assert "authentication" in email.last_error
    assert server.mailbox.data_seen == []


async def test_smtp_starttls_to_an_untrusted_certificate_is_retried_not_sent(
    app_factory: AppFactory,
    smtp: SmtpServers,
    server_tls: ssl.SSLContext,
    manual_clock: ManualClock,
) -> None:
    server = smtp.start(tls_context=server_tls, require_starttls=True)
    # No smtp_ca_file: the throwaway CA is not trusted.
    settings = smtp_settings(server.port, smtp_starttls=True)
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.last_error is not None
    assert "certificate verify failed" in email.last_error
    assert server.mailbox.data_seen == []


async def test_smtp_implicit_tls_delivers(
    app_factory: AppFactory, smtp: SmtpServers, server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    server = smtp.start(ssl_context=server_tls)
    settings = smtp_settings(server.port, smtp_tls=True, smtp_ca_file=ca_file)
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    [received] = server.mailbox.messages
    assert received.tls
    assert received.message["Subject"] == SUBJECT
    assert email.status is EmailStatus.SENT


async def test_smtp_recipient_refused_with_550_fails_the_email_for_good(
    app_factory: AppFactory, smtp: SmtpServers, manual_clock: ManualClock
) -> None:
    server = smtp.start(Mailbox(rcpt_reply="550 5.1.1 No such user here"))
    async with open_outbox(app_factory, **smtp_settings(server.port)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        manual_clock.advance(days=1)
        assert await outbox.tick() == 0
        email = await outbox.get(email_id)

    assert_failed_for_good(email)
    assert email.attempts == 1
    assert email.last_error is not None
    assert "550" in email.last_error
    assert server.mailbox.rcpt_attempts == 1
    assert server.mailbox.messages == []


async def test_smtp_recipient_deferred_with_450_is_retried(
    app_factory: AppFactory, smtp: SmtpServers, manual_clock: ManualClock
) -> None:
    server = smtp.start(Mailbox(rcpt_reply="450 4.2.1 Mailbox busy, try later"))
    async with open_outbox(app_factory, **smtp_settings(server.port)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.last_error is not None
    assert "450" in email.last_error
    assert server.mailbox.messages == []


async def test_smtp_outage_loses_no_email_it_is_sent_once_the_server_is_back(
    app_factory: AppFactory,
    smtp: SmtpServers,
    manual_clock: ManualClock,
) -> None:
    # The port is held by a socket nobody listens on: the server is down.
    reserved = smtp.reserve()
    settings = smtp_settings(port_of(reserved))
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        down = await outbox.get(email_id)
        assert_waiting_for_retry(down, manual_clock, attempts=1)
        assert down.last_error is not None
        assert "unreachable" in down.last_error

        # Nothing is due before `not_before`, even with the server back.
        server = smtp.start(sock=reserved)
        assert await outbox.tick() == 0
        manual_clock.move_to(down.not_before)
        assert await outbox.tick() == 1
        email = await outbox.get(email_id)

    assert email.status is EmailStatus.SENT
    assert email.attempts == 2
    assert email.last_error is None
    [received] = server.mailbox.messages
    assert received.rcpt_tos == [RECIPIENT]


async def test_smtp_retry_after_a_refused_data_resends_the_same_message_id(
    app_factory: AppFactory, smtp: SmtpServers, manual_clock: ManualClock
) -> None:
    server = smtp.start(Mailbox(data_replies=["451 4.3.0 Temporary failure, try again"]))
    async with open_outbox(app_factory, **smtp_settings(server.port)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        deferred = await outbox.get(email_id)
        assert_waiting_for_retry(deferred, manual_clock, attempts=1)
        manual_clock.move_to(deferred.not_before)
        assert await outbox.tick() == 1
        email = await outbox.get(email_id)

    assert email.status is EmailStatus.SENT
    first, second = server.mailbox.data_seen
    # Receivers drop a copy whose Message-ID they have seen: a retry must reuse it.
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert len(server.mailbox.messages) == 1


# --- Resend -------------------------------------------------------------------------------------


async def test_resend_delivers_over_http_with_the_outbox_id_as_idempotency_key(
    app_factory: AppFactory, resend: ResendFake
) -> None:
    async with open_outbox(app_factory, **resend_settings(resend)) as outbox:
        email_id = await outbox.queue(sent_at=BODY_MARKER)
        await outbox.drain()
        email = await outbox.get(email_id)

    [stored] = await resend.emails()
    assert stored["idempotency_key"] == email_id.hex
    assert stored["from"] == SENDER
    assert stored["to"] == [RECIPIENT]
    assert stored["subject"] == SUBJECT
    assert BODY_MARKER in stored["text"]
    assert BODY_MARKER in stored["html"]
    assert email.status is EmailStatus.SENT
    assert email.backend == "resend"
    assert email.provider_message_id == stored["id"]
    assert email.text_body is None
    assert email.html_body is None


async def test_resend_rate_limit_waits_at_least_its_retry_after(
    app_factory: AppFactory, resend: ResendFake, manual_clock: ManualClock
) -> None:
    await resend.inject(
        status=429, name="rate_limit_exceeded", message="slow down", retry_after=120
    )
    async with open_outbox(app_factory, **resend_settings(resend)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.not_before >= manual_clock.now + timedelta(seconds=120)
    assert email.last_error is not None
    assert "429" in email.last_error
    assert await resend.emails() == []


async def test_resend_retry_after_as_an_http_date_is_honoured(
    app_factory: AppFactory, resend: ResendFake, manual_clock: ManualClock
) -> None:
    until = manual_clock.now + timedelta(minutes=10)
    await resend.inject(
        status=429, name="rate_limit_exceeded", message="later", retry_after=format_datetime(until)
    )
    async with open_outbox(app_factory, **resend_settings(resend)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.not_before >= until


async def test_the_sender_is_fixed_when_the_email_is_queued(
    app_factory: AppFactory, resend: ResendFake
) -> None:
    async with open_outbox(
        app_factory, **resend_settings(resend, email_from="Old <old@example.com>")
    ) as before:
        email_id = await before.queue(dispatch=False)
    # The operator changes the sender while the email waits: its retries keep the first one,
    # so the idempotency key always covers the same payload.
    async with open_outbox(
        app_factory, **resend_settings(resend, email_from="New <new@example.com>")
    ) as after:
        assert await after.tick() == 1
        email = await after.get(email_id)

    assert email.status is EmailStatus.SENT
    [stored] = await resend.emails()
    assert stored["from"] == "Old <old@example.com>"


async def test_resend_validation_error_422_fails_the_email_for_good(
    app_factory: AppFactory, resend: ResendFake
) -> None:
    await resend.inject(status=422, name="validation_error", message="Invalid `to` field.")
    async with open_outbox(app_factory, **resend_settings(resend)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_failed_for_good(email)
    assert email.attempts == 1
    assert email.last_error is not None
    assert "422" in email.last_error
    assert await resend.emails() == []


async def test_resend_server_error_500_is_retried(
    app_factory: AppFactory, resend: ResendFake, manual_clock: ManualClock
) -> None:
    await resend.inject(status=500, name="application_error", message="Something broke")
    async with open_outbox(app_factory, **resend_settings(resend)) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        email = await outbox.get(email_id)

    assert_waiting_for_retry(email, manual_clock, attempts=1)
    assert email.last_error is not None
    assert "500" in email.last_error
    assert await resend.emails() == []


async def test_resend_lost_response_is_retried_and_delivered_exactly_once(
    app_factory: AppFactory, resend: ResendFake, manual_clock: ManualClock
) -> None:
    # Resend accepts the email, but its answer comes back after the client gave up.
    await resend.inject(lose_response=True, delay_s=1.5)
    settings = resend_settings(resend, resend_timeout_s=0.5)
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        timed_out = await outbox.get(email_id)
        assert_waiting_for_retry(timed_out, manual_clock, attempts=1)
        assert timed_out.last_error is not None
        assert "Timeout" in timed_out.last_error
        assert len(await resend.emails()) == 1, "the fake did not accept the first attempt"

        manual_clock.move_to(timed_out.not_before)
        assert await outbox.tick() == 1
        email = await outbox.get(email_id)

    [stored] = await resend.emails()
    assert stored["idempotency_key"] == email_id.hex
    assert email.status is EmailStatus.SENT
    assert email.attempts == 2
    # The retry got the original answer back, not a second email.
    assert email.provider_message_id == stored["id"]


# --- the outbox's promises ----------------------------------------------------------------------


async def test_email_fails_after_max_attempts_and_is_never_tried_again(
    app_factory: AppFactory, smtp: SmtpServers, manual_clock: ManualClock
) -> None:
    server = smtp.start(Mailbox(rcpt_reply="450 4.2.1 Mailbox busy, try later"))
    settings = smtp_settings(server.port, email_max_attempts=2)
    async with open_outbox(app_factory, **settings) as outbox:
        email_id = await outbox.queue()
        await outbox.drain()
        first = await outbox.get(email_id)
        assert_waiting_for_retry(first, manual_clock, attempts=1)

        manual_clock.move_to(first.not_before)
        assert await outbox.tick() == 1
        manual_clock.advance(days=1)
        assert await outbox.tick() == 0
        email = await outbox.get(email_id)

    assert_failed_for_good(email)
    assert email.attempts == 2
    assert email.last_error is not None
    assert "450" in email.last_error
    assert server.mailbox.rcpt_attempts == 2


async def test_duplicate_delivery_jobs_send_the_email_once(
    app_factory: AppFactory, smtp_server: LoopbackSmtpServer
) -> None:
    async with open_outbox(app_factory, **smtp_settings(smtp_server.port)) as outbox:
        email_id = await outbox.queue()  # its job is on the queue already
        await asyncio.gather(
            deliver_email.run(email_id=str(email_id)),
            deliver_email.run(email_id=str(email_id)),
        )
        await outbox.drain()
        await deliver_email.run(email_id=str(email_id))
        email = await outbox.get(email_id)

    assert len(smtp_server.mailbox.messages) == 1
    assert email.status is EmailStatus.SENT
    assert email.attempts == 1


async def test_email_of_a_worker_that_died_mid_send_is_sent_after_its_lease_expires(
    outbox: Outbox, manual_clock: ManualClock
) -> None:
    email_id = await outbox.queue(dispatch=False)
    async with session_scope(outbox.runtime) as session:
        dead_claim = await service.claim_email(session, outbox.settings, email_id)
    assert dead_claim is not None
    # The worker dies here, before it records anything.

    assert await outbox.tick() == 0, "the lease is still running"
    assert (await outbox.get(email_id)).status is EmailStatus.SENDING
    manual_clock.advance(seconds=outbox.settings.email_lease_s + 1)
    assert await outbox.tick() == 1

    email = await outbox.get(email_id)
    assert email.status is EmailStatus.SENT
    assert email.attempts == 2
    assert len(outbox.mail_files()) == 1
    # The dead worker's outcome, should it come back, no longer counts.
    async with session_scope(outbox.runtime) as session:
        late = await service.record_failure(
            session, outbox.settings, dead_claim, Retryable("late"), backend="console"
        )
    assert late is None
    assert (await outbox.get(email_id)).status is EmailStatus.SENT


async def test_email_interrupted_on_its_last_attempt_fails(
    app_factory: AppFactory, manual_clock: ManualClock
) -> None:
    async with open_outbox(app_factory, email_max_attempts=1) as outbox:
        email_id = await outbox.queue(dispatch=False)
        async with session_scope(outbox.runtime) as session:
            assert await service.claim_email(session, outbox.settings, email_id) is not None

        manual_clock.advance(seconds=outbox.settings.email_lease_s + 1)
        assert await outbox.tick() == 0
        email = await outbox.get(email_id)
        assert outbox.mail_files() == []

    assert_failed_for_good(email)
    assert email.attempts == 1
    assert email.last_error == "delivery was interrupted on every attempt"


async def test_queue_email_in_a_rolled_back_unit_of_work_leaves_nothing_to_send(
    outbox: Outbox,
) -> None:
    async def queue_then_fail() -> None:
        async with session_scope(outbox.runtime) as session:
            await service.queue_email(
                session,
                outbox.settings,
                to=RECIPIENT,
                template="delivery_test",
                context={"backend": "test", "sent_at": "now"},
            )
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError, match="the caller failed"):
        await queue_then_fail()

    await outbox.drain()
    assert await outbox.tick() == 0
    assert await outbox.count() == 0
    assert outbox.mail_files() == []
