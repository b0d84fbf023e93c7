"""`Idempotency-Key` on POSTs that create something: a retried request gets the first answer.

The same key from the same caller with the same body within 24 hours replays the stored
response; with a different body it is refused with 409 `idempotency_conflict`; while the first
request still runs, the retry gets 409 `conflict`. The stored response is written in the same
unit of work as what the request created, so "created" and "remembered" commit together.
Responses of 5xx are not remembered: the client may retry them.

Routes opt in with `openapi_extra=IDEMPOTENT` (see `core.routing`). Responses that carry
credentials (tokens) must not opt in: their bodies would be stored.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response

from t21.core import clock
from t21.core.errors import BadRequest, Conflict
from t21.core.models import RecordModel
from t21.core.runtime import Runtime
from t21.core.uow import current_unit_of_work_or_none, session_scope

HEADER = "idempotency-key"
IDEMPOTENT: dict[str, Any] = {"x-idempotent": True}
RETENTION = timedelta(hours=24)
# A first request that has neither finished nor failed after this long is presumed dead.
STALE_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("content-type", "location")


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    title = "Idempotency key reused"


class IdempotencyRecord(RecordModel):
    __tablename__ = "idempotency_keys"

    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(len(data).to_bytes(8, "big"))
        sha.update(data)
    return sha.hexdigest()


def _canonical_body(content_type: str, body: bytes) -> bytes:
    """The body as compared between a request and its retry. A multipart body (an upload) is
    framed by a boundary its client draws at random for every send: it is set aside, so the
    retry of the same fields and files is the same request."""
    media, _, parameters = content_type.partition(";")
    if media.strip().lower() != "multipart/form-data":
        return body
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            boundary = value.strip().strip('"').encode("latin-1", "replace")
            return body.replace(b"--" + boundary, b"--boundary")
    return body


class Idempotency:
    """One idempotent request in flight: `begin()` decides, `finish()`/`abandon()` record."""

    def __init__(self, runtime: Runtime, owner: str, key: str, request: Request, body: bytes):
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
        self.runtime = runtime
        self.key_digest = _digest(owner, key)
        self.request_digest = _digest(
            request.method,
            request.url.path,
            request.url.query,
            _canonical_body(request.headers.get("content-type", ""), body),
        )
        self.record_id: Any = None

    async def begin(self) -> Response | None:
        """A stored response to replay, or None when this request should run (and is now
        marked in progress). Raises the conflicts."""
        now = clock.now()
        async with session_scope(self.runtime) as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(IdempotencyRecord.key_digest == self.key_digest)
            )
            if record is not None:
                in_progress = record.response_status is None
                if record.expires_at <= now or (
                    in_progress and record.updated_at <= now - STALE_AFTER
                ):
                    await session.delete(record)
                    await session.flush()
                    record = None
            if record is not None:
                if record.request_digest != self.request_digest:
                    raise IdempotencyConflict(
                        "This Idempotency-Key was used with a different request; use a new key."
                    )
                if record.response_status is None:
                    raise Conflict(
                        "A request with this Idempotency-Key is still in progress; retry later.",
                        headers={"Retry-After": "1"},
                    )
                return _replay(record)
            fresh = IdempotencyRecord(
                key_digest=self.key_digest,
                request_digest=self.request_digest,
                expires_at=now + RETENTION,
            )
            session.add(fresh)
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(
                    "A request with this Idempotency-Key is still in progress; retry later.",
                    headers={"Retry-After": "1"},
                ) from None
            self.record_id = fresh.id
        return None

    @staticmethod
    def remembers(response: Response) -> bool:
        """Whether `response` is kept for replays: not a 5xx (the client may retry those), and
        a body already in memory (not a stream)."""
        return response.status_code < 500 and isinstance(getattr(response, "body", None), bytes)

    async def finish(self, response: Response) -> None:
        """Remember `response` (in the request's unit of work when there is one)."""
        body = response.body
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() in REPLAYED_HEADERS
        }
        values = {
            "response_status": response.status_code,
            "response_headers": headers,
            "response_body": body,
            "updated_at": clock.now(),
        }
        uow = current_unit_of_work_or_none()
        if uow is not None:
            record = await uow.session.get(IdempotencyRecord, self.record_id)
            if record is not None:
                for name, value in values.items():
                    setattr(record, name, value)
                await uow.session.flush()
                return
        async with session_scope(self.runtime) as session:
            record = await session.get(IdempotencyRecord, self.record_id)
            if record is not None:
                for name, value in values.items():
                    setattr(record, name, value)

    async def abandon(self) -> None:
        """Forget the key: the request failed in a way the client may retry."""
        async with session_scope(self.runtime) as session:
            await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.id == self.record_id)
            )


def _replay(record: IdempotencyRecord) -> Response:
    headers = dict(record.response_headers or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=record.response_body or b"",
        status_code=record.response_status or 200,
        headers=headers,
    )


async def purge_expired(session: AsyncSession, *, limit: int = 1000) -> int:
    """Delete up to `limit` expired records; returns how many."""
    ids = list(
        (
            await session.scalars(
                select(IdempotencyRecord.id)
                .where(IdempotencyRecord.expires_at <= clock.now())
                .limit(limit)
            )
        ).all()
    )
    if ids:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
    return len(ids)
