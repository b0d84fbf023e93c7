"""What the email tests run against: a real SMTP server on loopback (aiosmtpd in its own thread,
recording what it receives, answering RCPT or DATA with scripted replies when asked), the Resend
fake served over HTTP, and a clock the test moves by hand."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from t21.core.tls import tls_context
from t21.sandbox.resend import create_resend_app
from t21.sandbox.server import ThreadedServer

SERVER_NAME = "smtp.test"


@dataclass(frozen=True)
class Received:
    """One message as the server saw it at DATA."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: bytes | None


@dataclass
class Mailbox:
    """The server's handler. `rcpt_reply` answers every RCPT (e.g. "550 ..."); `data_replies`
    answer the next DATA commands in turn. `messages` holds what was accepted, `data_seen`
    every message that reached DATA, accepted or not."""

    rcpt_reply: str | None = None
    data_replies: list[str] = field(default_factory=list)
    rcpt_attempts: int = 0
    messages: list[Received] = field(default_factory=list)
    data_seen: list[Received] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt_attempts += 1
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        assert server.transport is not None
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            message=parsed,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=session.auth_data if session.authenticated else None,
        )
        self.data_seen.append(received)
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(received)
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Credentials:
    login: bytes
    password: bytes

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """aiosmtpd's `authenticator`: accepts exactly these credentials."""
        accepted = isinstance(auth_data, LoginPassword) and (
            auth_data.login == self.login and auth_data.password == self.password
        )
        login = getattr(auth_data, "login", None)
        return AuthResult(success=accepted, handled=False, auth_data=login)


class LoopbackSmtpServer(Controller):
    """aiosmtpd's threaded server listening on `sock`, a socket already bound on loopback, so
    the port is chosen by the OS and held from before the server starts."""

    def __init__(self, handler: Mailbox, sock: socket.socket, **smtp_kwargs: Any) -> None:
        self.sock = sock
        self.mailbox = handler
        super().__init__(
            handler,
            hostname="127.0.0.1",
            port=sock.getsockname()[1],
            server_hostname=SERVER_NAME,
            **smtp_kwargs,
        )

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


class SmtpServers:
    """Starts SMTP servers on loopback for one test and stops them all afterwards."""

    def __init__(self) -> None:
        self.started: list[LoopbackSmtpServer] = []
        self.sockets: list[socket.socket] = []

    def reserve(self) -> socket.socket:
        """A free loopback port, held (connections refused) until a server starts on it."""
        sock = bound_socket()
        self.sockets.append(sock)
        return sock

    def start(
        self, mailbox: Mailbox | None = None, *, sock: socket.socket | None = None, **options: Any
    ) -> LoopbackSmtpServer:
        """A server recording into `mailbox`, on `sock` or a port the OS picks; `options`
        are aiosmtpd's (`tls_context`, `authenticator`, `ssl_context`, ...)."""
        listening = sock if sock is not None else self.reserve()
        server = LoopbackSmtpServer(mailbox or Mailbox(), listening, **options)
        server.start()
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
        for sock in self.sockets:
            sock.close()


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port and not listening: connections are refused
    until a server listens on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def server_tls_context(certificate: Any) -> ssl.SSLContext:
    """A server-side context presenting `certificate` (a trustme LeafCert)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return context


@dataclass
class ManualClock:
    """The time `t21.core.clock.now()` returns while a test runs; it moves only when told."""

    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def move_to(self, moment: datetime) -> datetime:
        assert moment >= self.now, "the clock only moves forward"
        self.now = moment
        return self.now


class ResendFake:
    """The sandbox's Resend fake served over HTTP on loopback, and its `/_control` API."""

    def __init__(self) -> None:
        self.server = ThreadedServer(create_resend_app())

    @property
    def url(self) -> str:
        return self.server.url

    async def inject(self, **fault: Any) -> None:
        """Answer the next send(s) with a fault (see `t21.sandbox.resend.Fault`)."""
        async with httpx.AsyncClient(verify=tls_context(), base_url=self.url) as http:
            response = await http.post("/_control/faults", json=fault)
        response.raise_for_status()

    async def emails(self) -> list[dict[str, Any]]:
        """Every email the fake accepted, with the `Idempotency-Key` it came with."""
        async with httpx.AsyncClient(verify=tls_context(), base_url=self.url) as http:
            response = await http.get("/_control/emails")
        response.raise_for_status()
        emails: list[dict[str, Any]] = response.json()["emails"]
        return emails
