"""Jobs used only by the tests, registered before any queue is built."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from t21.core.uow import session_scope
from t21.notifications.models import OutboundEmail
from t21.worker.jobs import enqueue, job


@dataclass
class Observations:
    """What test jobs saw when they ran."""

    seen: list[tuple[str, bool]] = field(default_factory=list)
    runs: int = 0
    gate: asyncio.Event | None = None


observed = Observations()


@job("tests.observe_email")
async def observe_email(email_id: str) -> None:
    """Records whether the email row was visible (committed) when the job ran."""
    observed.runs += 1
    async with session_scope() as session:
        row = await session.get(OutboundEmail, uuid.UUID(email_id))
    observed.seen.append((email_id, row is not None))


@job("tests.chain")
async def chain(depth: int) -> None:
    """Enqueues itself `depth` more times, each from its own unit of work."""
    observed.runs += 1
    if depth > 0:
        async with session_scope():
            enqueue(chain, depth=depth - 1)


@job("tests.fail")
async def fail(reason: str) -> None:
    observed.runs += 1
    raise RuntimeError(reason)


@job("tests.wait_for_gate")
async def wait_for_gate(label: str) -> None:
    """Runs until the test opens the gate (a job interrupted mid-way when its worker dies)."""
    observed.runs += 1
    observed.seen.append((label, False))
    assert observed.gate is not None
    await observed.gate.wait()
    observed.seen.append((label, True))
