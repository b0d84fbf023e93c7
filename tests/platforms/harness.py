"""What the adapter tests run against: a network's fake served over real HTTP on loopback, a
media server the fakes download from, and the connect flow done as a browser would."""

from __future__ import annotations

import secrets
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from t21.core import clock
from t21.core.tls import tls_context
from t21.platforms.base import (
    Connection,
    Credentials,
    CredentialsConnector,
    MediaItem,
    MediaKind,
    PlatformConfig,
    Provider,
)
from t21.sandbox.server import ThreadedServer
from tests.support import loopback

REDIRECT_URI = "http://127.0.0.1:9/api/v1/social-accounts/callback/test"


@dataclass
class FakeNetwork:
    """A fake served on loopback, and its `/_control` API."""

    url: str

    def config(
        self, name: str, *, timeout_s: float = 15.0, scopes: tuple[str, ...] = ()
    ) -> PlatformConfig:
        # A fake answers in milliseconds; the slack is for a machine busy with two test
        # processes. Tests of a network that is too slow pass their own short timeout.
        return PlatformConfig(
            name=name,
            client_id="t21-sandbox",
            client_secret="t21-sandbox-secret",
            auth_base=self.url,
            api_base=self.url,
            upload_base=self.url,
            sandbox=True,
            poll_interval_s=0.01,
            poll_timeout_s=10.0,
            timeout_s=timeout_s,
            scopes=scopes,
        )

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the fake's `/_control` API (`path` below it); the answer's JSON."""
        response = loopback.request(method, f"{self.url}/_control{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def reset(self) -> None:
        """Forget everything the fake saw and made, and go back to its default settings."""
        self.control("POST", "/reset")

    def inject(self, **fault: Any) -> None:
        """Answer the next matching request(s) with a fault (see t21.sandbox.platform.Fault)."""
        self.control("POST", "/faults", fault)

    def expire_tokens(self, token: str | None = None) -> None:
        self.control("POST", "/tokens/expire", {"token": token} if token else {})

    def revoke_tokens(self, token: str | None = None) -> None:
        self.control("POST", "/tokens/revoke", {"token": token} if token else {})

    def published(self) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = self.control("GET", "/published")["published"]
        return posts

    def requests(self) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = self.control("GET", "/requests")["requests"]
        return seen

    def tokens(self) -> list[dict[str, Any]]:
        summary: list[dict[str, Any]] = self.control("GET", "/tokens")["tokens"]
        return summary

    def sends(self) -> list[dict[str, Any]]:
        """Every publish request the fake received, refused ones included (`_control/sends`)."""
        found: list[dict[str, Any]] = self.control("GET", "/sends")["sends"]
        return found

    def refuse_duplicates(self, refuse: bool) -> None:
        self.control("POST", "/duplicates", {"refuse": refuse})


@contextmanager
def serve(app: ASGIApp) -> Iterator[FakeNetwork]:
    with ThreadedServer(app) as server:
        yield FakeNetwork(url=server.url)


# --- media ---------------------------------------------------------------------------------------


def png_bytes(width: int, height: int) -> bytes:
    """A valid (grey) PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def mp4_bytes(size: int) -> bytes:
    """Bytes that start like an MP4 file (an `ftyp` box), padded to `size`."""
    box = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2"
    return box + secrets.token_bytes(max(0, size - len(box)))


@dataclass
class MediaServer:
    """Serves media bytes on loopback, as object storage's signed URLs would."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    url: str = ""
    downloads: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def serve_file(request: Request) -> Response:
            name = request.path_params["name"]
            self.downloads.append(name)
            if name not in self.files:
                return Response(status_code=404)
            data, content_type = self.files[name]
            return Response(data, media_type=content_type)

        return Starlette(routes=[Route("/media/{name}", serve_file)])

    def item(
        self,
        kind: MediaKind,
        data: bytes,
        content_type: str,
        *,
        width: int | None = None,
        height: int | None = None,
        duration_s: float | None = None,
    ) -> MediaItem:
        extension = content_type.rsplit("/", 1)[-1]
        name = f"{secrets.token_hex(8)}.{extension}"
        self.files[name] = (data, content_type)

        async def read(offset: int, length: int) -> bytes:
            return data[offset : offset + length]

        return MediaItem(
            kind=kind,
            content_type=content_type,
            size=len(data),
            url=f"{self.url}/media/{name}",
            read=read,
            width=width,
            height=height,
            duration_s=duration_s,
        )

    def image(self, width: int = 1080, height: int = 1080) -> MediaItem:
        return self.item(
            MediaKind.IMAGE, png_bytes(width, height), "image/png", width=width, height=height
        )

    def video(
        self,
        size: int = 3 * 1024 * 1024,
        width: int = 1080,
        height: int = 1920,
        seconds: float = 12,
    ) -> MediaItem:
        return self.item(
            MediaKind.VIDEO,
            mp4_bytes(size),
            "video/mp4",
            width=width,
            height=height,
            duration_s=seconds,
        )


@contextmanager
def media_server() -> Iterator[MediaServer]:
    media = MediaServer()
    with ThreadedServer(media.app()) as server:
        media.url = server.url
        yield media


# --- connecting ----------------------------------------------------------------------------------


async def authorize(provider: Provider, *, state: str = "state-1") -> tuple[str, str | None]:
    """Send the 'browser' to the network's authorize URL; the code it comes back with."""
    verifier = secrets.token_urlsafe(48) if provider.uses_pkce else None
    url = provider.authorization_url(state=state, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.get(url)
    assert answer.status_code in (301, 302, 303, 307), answer.text
    location = answer.headers["location"].split("#", 1)[0]
    assert location.startswith(REDIRECT_URI), location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query.get("state") == state, query
    assert "code" in query, query
    return query["code"], verifier


async def connect(provider: Provider) -> list[Connection]:
    code, verifier = await authorize(provider)
    return await provider.exchange_code(
        code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier
    )


def credentials(connection: Connection) -> Credentials:
    grant = connection.grant
    return Credentials(
        access_token=grant.access_token,
        external_id=connection.profile.external_id,
        username=connection.profile.username,
        refresh_token=grant.refresh_token,
        expires_at=clock.now() + timedelta(seconds=grant.expires_in) if grant.expires_in else None,
        scopes=grant.scopes,
    )


async def sign_in(provider: CredentialsConnector, given: dict[str, str]) -> Credentials:
    """Connect from credentials given to T21 (no redirect): the one account's credentials."""
    [connection] = await provider.connect_with_credentials(given)
    return credentials(connection)


async def bluesky_record(fake: FakeNetwork, account: Credentials, uri: str) -> dict[str, Any]:
    """What the Bluesky fake stored for the post `uri`, as `listRecords` gives it back."""
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.get(
            f"{fake.url}/xrpc/com.atproto.repo.listRecords",
            params={"repo": account.external_id, "collection": "app.bsky.feed.post"},
        )
    [found] = [r for r in answer.json()["records"] if r["uri"] == uri]
    return dict(found["value"])


async def bluesky_create(fake: FakeNetwork, account: Credentials, embed: Any) -> httpx.Response:
    """The Bluesky fake's answer to a post with `embed`, created straight at its PDS."""
    record = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-01-01T00:00:00Z"}
    async with httpx.AsyncClient(verify=tls_context()) as http:
        return await http.post(
            f"{fake.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {account.access_token}"},
            json={
                "repo": account.external_id,
                "collection": "app.bsky.feed.post",
                "record": {**record, "embed": embed},
            },
        )


async def bluesky_upload(fake: FakeNetwork, account: Credentials, data: bytes, kind: str) -> Any:
    """The blob the Bluesky fake stored for `data` uploaded as `kind`."""
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.post(
            f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
            headers={"Authorization": f"Bearer {account.access_token}", "Content-Type": kind},
            content=data,
        )
    return answer.json()["blob"]
