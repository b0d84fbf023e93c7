"""Fixtures for the email tests: SMTP servers on loopback (plain, STARTTLS, implicit TLS) with
certificates from a throwaway CA, the Resend fake over HTTP, and a hand-moved clock."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from t21.core import clock
from tests.notifications.harness import (
    LoopbackSmtpServer,
    ManualClock,
    ResendFake,
    SmtpServers,
    server_tls_context,
)


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """`clock.now()` stands still for the whole test; the test moves it forward by hand."""
    moving = ManualClock(datetime.now(UTC).replace(microsecond=0))
    with clock.frozen(lambda: moving.now):
        yield moving


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The throwaway CA as a PEM file, for `smtp_ca_file`."""
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_tls(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 signed by the throwaway CA."""
    return server_tls_context(tls_ca.issue_cert("127.0.0.1"))


@pytest.fixture
def smtp() -> Iterator[SmtpServers]:
    """`smtp.start(mailbox, **aiosmtpd_options)` starts an SMTP server on loopback;
    every server is stopped after the test."""
    servers = SmtpServers()
    yield servers
    servers.stop_all()


@pytest.fixture
def smtp_server(smtp: SmtpServers) -> LoopbackSmtpServer:
    """A plain SMTP server (no TLS, no AUTH) that accepts everything."""
    return smtp.start()


@pytest.fixture
def resend() -> Iterator[ResendFake]:
    fake = ResendFake()
    with fake.server:
        yield fake
