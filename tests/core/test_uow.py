"""The unit of work: a request commits once, rolls back on error, and sends jobs only after
its commit; worker code follows the same rule through `session_scope()`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.uow import read_scope, release, session_scope
from t21.notifications.models import EmailStatus, OutboundEmail
from t21.worker.jobs import enqueue
from t21.worker.queue import JobQueue
from tests.support.emails import queue_test_email
from tests.support.jobs import observe_email, observed


@pytest.fixture(autouse=True)
def _reset_observations() -> None:
    observed.seen.clear()
    observed.runs = 0


async def count_emails(runtime: Runtime) -> int:
    async with session_scope(runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(OutboundEmail)) or 0)


async def test_request_commits_after_the_handler(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post("/api/v1/_test/emails", json={"to": "a@example.com"})
    assert response.status_code == 201
    async with session_scope(runtime) as session:
        email = await session.get(OutboundEmail, uuid.UUID(response.json()["id"]))
    assert email is not None
    assert email.to_address == "a@example.com"


async def test_failed_request_rolls_back_and_sends_no_job(
    client: httpx.AsyncClient, runtime: Runtime, jobs: JobQueue
) -> None:
    response = await client.post(
        "/api/v1/_test/emails",
        json={"to": "a@example.com", "fail_after_write": True, "observe": True},
    )
    assert response.status_code == 409
    await jobs.drain(timeout=5)
    assert await count_emails(runtime) == 0
    assert observed.runs == 0, "a job of a rolled-back request ran"


async def test_job_runs_only_after_its_request_committed(
    client: httpx.AsyncClient, jobs: JobQueue
) -> None:
    response = await client.post(
        "/api/v1/_test/emails", json={"to": "a@example.com", "observe": True}
    )
    assert response.status_code == 201
    await jobs.drain(timeout=10)
    assert observed.seen == [(response.json()["id"], True)]


async def test_enqueue_outside_a_unit_of_work_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no unit of work"):
        enqueue(observe_email, email_id=str(uuid.uuid4()))


async def test_enqueue_validates_name_and_arguments(runtime: Runtime) -> None:
    async with session_scope(runtime):
        with pytest.raises(LookupError, match="no job named"):
            enqueue("tests.does_not_exist", x=1)
        with pytest.raises(TypeError):
            enqueue("tests.observe_email", wrong_argument="x")
        with pytest.raises(TypeError, match="plain JSON"):
            enqueue("tests.observe_email", email_id=uuid.uuid4())


async def test_session_scope_commits_and_then_sends_jobs(runtime: Runtime, jobs: JobQueue) -> None:
    async with session_scope(runtime) as session:
        email = await queue_test_email(
            session, runtime.settings, to="b@example.com", dispatch=False
        )
        enqueue(observe_email, email_id=str(email.id))
        assert observed.runs == 0, "the job was sent before the commit"
    await jobs.drain(timeout=10)
    assert observed.seen == [(str(email.id), True)]


async def test_session_scope_rolls_back_and_drops_jobs_on_error(
    runtime: Runtime, jobs: JobQueue
) -> None:
    async def write_then_fail() -> None:
        async with session_scope(runtime) as session:
            email = await queue_test_email(session, runtime.settings, to="c@example.com")
            enqueue(observe_email, email_id=str(email.id))
            raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        await write_then_fail()
    await jobs.drain(timeout=5)
    assert observed.runs == 0
    assert await count_emails(runtime) == 0


async def test_each_request_gets_its_own_session(
    client: httpx.AsyncClient, runtime: Runtime, jobs: JobQueue
) -> None:
    first = await client.post("/api/v1/_test/emails", json={"to": "x@example.com"})
    failed = await client.post(
        "/api/v1/_test/emails", json={"to": "y@example.com", "fail_after_write": True}
    )
    second = await client.post("/api/v1/_test/emails", json={"to": "z@example.com"})
    assert (first.status_code, failed.status_code, second.status_code) == (201, 409, 201)
    await jobs.drain(timeout=10)
    async with session_scope(runtime) as session:
        rows = (await session.scalars(select(OutboundEmail))).all()
    assert sorted(row.to_address for row in rows) == ["x@example.com", "z@example.com"]
    assert {row.status for row in rows} == {EmailStatus.SENT}


@pytest.mark.postgres
async def test_a_read_session_runs_each_statement_in_a_transaction_of_its_own(
    runtime: Runtime,
) -> None:
    async with read_scope(runtime) as session:
        first = await session.scalar(text("SELECT txid_current()"))
        second = await session.scalar(text("SELECT txid_current()"))
    assert first != second, "the read session's statements shared a transaction"
    async with session_scope(runtime) as session:
        first = await session.scalar(text("SELECT txid_current()"))
        second = await session.scalar(text("SELECT txid_current()"))
    assert first == second, "the unit of work's statements ran in separate transactions"


async def test_a_read_session_refuses_to_write_and_opens_no_unit_of_work(
    runtime: Runtime,
) -> None:
    async with read_scope(runtime) as session:
        with pytest.raises(RuntimeError, match="no unit of work"):
            enqueue(observe_email, email_id=str(uuid.uuid4()))
        with pytest.raises(RuntimeError, match="read-only session"):
            await queue_test_email(session, runtime.settings, to="r@example.com", dispatch=False)
    assert await count_emails(runtime) == 0


async def test_release_ends_a_transaction_that_only_read_and_the_unit_of_work_goes_on(
    runtime: Runtime,
) -> None:
    async with session_scope(runtime) as session:
        assert await session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
        assert session.in_transaction()
        await release(session)
        assert not session.in_transaction()
        await queue_test_email(session, runtime.settings, to="later@example.com", dispatch=False)
    assert await count_emails(runtime) == 1


async def _add_unflushed(session: AsyncSession, runtime: Runtime) -> None:
    session.add(
        OutboundEmail(
            from_address="t21@example.com",
            to_address="unflushed@example.com",
            not_before=clock.now(),
            subject="s",
            text_body="t",
            template="delivery_test",
        )
    )


async def _flush_a_row(session: AsyncSession, runtime: Runtime) -> None:
    await queue_test_email(session, runtime.settings, to="flushed@example.com", dispatch=False)


async def _update_statement(session: AsyncSession, runtime: Runtime) -> None:
    await session.execute(update(OutboundEmail).values(subject="changed"))


@pytest.mark.parametrize(
    ("write", "refusal"),
    [
        (_add_unflushed, "not yet flushed"),
        (_flush_a_row, "that wrote"),
        (_update_statement, "that wrote"),
    ],
)
async def test_release_refuses_a_transaction_with_writes_and_commits_none_of_them(
    runtime: Runtime, write: Any, refusal: str
) -> None:
    async def read_write_release() -> None:
        async with session_scope(runtime) as session:
            await session.scalar(select(func.count()).select_from(OutboundEmail))
            await write(session, runtime)
            await release(session)

    with pytest.raises(RuntimeError, match=refusal):
        await read_write_release()
    assert await count_emails(runtime) == 0


async def test_release_is_refused_for_a_session_that_is_not_the_unit_of_works(
    runtime: Runtime,
) -> None:
    async with session_scope(runtime), runtime.sessionmaker() as other:
        with pytest.raises(RuntimeError, match="not the current unit of work"):
            await release(other)


async def test_a_transaction_after_a_committed_write_may_be_released(runtime: Runtime) -> None:
    async with session_scope(runtime) as session:
        await queue_test_email(session, runtime.settings, dispatch=False)
        await session.commit()
        await session.scalar(select(func.count()).select_from(OutboundEmail))
        await release(session)
        assert not session.in_transaction()
    assert await count_emails(runtime) == 1
