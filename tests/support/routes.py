"""Routes mounted only in tests, to drive the shared HTTP machinery through real requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from t21.core.deps import AppSettings, DbSession
from t21.core.errors import Conflict
from t21.core.ratelimit import RateLimit
from t21.notifications import service
from t21.worker.jobs import enqueue
from tests.support.jobs import observe_email

router = APIRouter(prefix="/api/v1/_test")


class EmailIn(BaseModel):
    to: str
    fail_after_write: bool = False
    observe: bool = False


class EmailOut(BaseModel):
    id: str


@router.post("/emails", status_code=201)
async def create_email(body: EmailIn, session: DbSession, settings: AppSettings) -> EmailOut:
    email = await service.queue_email(
        session,
        settings,
        to=body.to,
        template="delivery_test",
        context={"backend": "test", "sent_at": "now"},
        dispatch=not body.observe,
    )
    if body.observe:
        enqueue(observe_email, email_id=str(email.id))
    if body.fail_after_write:
        raise Conflict("The handler failed after writing.")
    return EmailOut(id=str(email.id))


class EchoIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=20)]
    count: Annotated[int, Field(ge=1, le=10)]
    password: str


@router.post("/echo")
async def echo(body: EchoIn) -> dict[str, object]:
    return {"name": body.name, "count": body.count}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password=hunter2 leaked in an exception message")


@router.get("/conflict")
async def conflict() -> None:
    raise Conflict("That cannot happen twice.", resource="thing")


@router.get(
    "/limited",
    dependencies=[Depends(RateLimit("2/minute", key="principal", scope="tests.limited"))],
)
async def limited() -> dict[str, str]:
    return {"ok": "yes"}
