"""From an event to its deliveries: one pending row per endpoint that wants it, in the event's
own transaction (the outbox), so no event is committed without its deliveries."""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.sql.base import Executable

from t21.core import clock
from t21.core.db import watch_writes
from t21.core.principal_changes import (
    CHANGES_KEY,
    REFRESH_WITHIN,
    PrincipalChanges,
    pending_changes,
)
from t21.core.runtime import PendingJob, get_runtime
from t21.core.uow import current_unit_of_work_or_none
from t21.webhooks.claims import hand_over
from t21.webhooks.models import (
    ALL_EVENTS,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from t21.events.models import Event

# The test event of one endpoint goes to that endpoint only, whatever it subscribes to; the
# endpoint is named in the event's data under this key.
TEST_EVENT_TYPE = "webhook.test"
TEST_ENDPOINT_KEY = "webhook_endpoint_id"
# Sent after a commit that made deliveries due (a retry by hand), to claim them at once.
DISPATCH_JOB = "webhooks.dispatch"


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether `endpoint` subscribes to events of `event_type`."""
    return ALL_EVENTS in endpoint.events or event_type in endpoint.events


async def create_deliveries(session: AsyncSession, event: Event) -> None:
    """Insert one delivery, due now, per enabled endpoint of the event's organization that
    subscribes to its type (`webhook.test`: only the endpoint being tested), and claim them
    into their endpoints' free slots, so they are sent as soon as the transaction commits."""
    await create_deliveries_for(session, event.organization_id, [event])


def _recipients(enabled: Sequence[WebhookEndpoint], event: Event) -> list[WebhookEndpoint]:
    if event.type == TEST_EVENT_TYPE:
        target = str(event.data.get(TEST_ENDPOINT_KEY, ""))
        return [e for e in enabled if str(e.id) == target]
    return [e for e in enabled if wants(e, event.type)]


class QuietOrganizations:
    """Organizations that had no enabled webhook endpoint a moment ago, so that their events
    (most organizations have no endpoint: every post's create records one) skip reading the
    endpoints: a round trip.

    Kept in API processes beside the principal cache, and dropped as it is: an organization's
    entry goes when a transaction that changed its endpoints commits, at once in the process
    that made the change, in the others through the principal cache's Redis channel. So a new
    endpoint receives every event of an API process from the moment that process hears of it,
    and within `ttl_s` (the principal cache's TTL) if the message was lost. An organization
    read while such a change committed is not remembered (a generation counter). In the last
    fifth of an entry's life one caller is told to read the endpoints again (and remembers the
    organization anew if it is still quiet) while the others are still served from the entry."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.generation = 0
        # Replaceable in tests, to show the bound without waiting it out.
        self.monotonic = time.monotonic
        self._until: dict[uuid.UUID, float] = {}
        # Organizations whose entry one caller was told to read again.
        self._renewing: set[uuid.UUID] = set()

    def quiet(self, organization_id: uuid.UUID) -> bool:
        until = self._until.get(organization_id)
        if until is None:
            return False
        left = until - self.monotonic()
        if left <= 0:
            del self._until[organization_id]
            self._renewing.discard(organization_id)
            return False
        if left <= self.ttl_s * REFRESH_WITHIN and organization_id not in self._renewing:
            self._renewing.add(organization_id)
            return False  # this caller reads the endpoints again
        return True

    def drop(self, organization_id: uuid.UUID) -> None:
        """`organization_id` was just read with an endpoint: no longer quiet here."""
        self._until.pop(organization_id, None)
        self._renewing.discard(organization_id)

    def skips_reading(self, organization_id: uuid.UUID) -> bool:
        """Whether a writer of deliveries may skip reading the organization's endpoints: it is
        quiet, and no caller was told to read them again (whoever writes deliveries while one
        was reads them, and remembers the organization anew)."""
        return self.quiet(organization_id) and organization_id not in self._renewing

    def remember(self, organization_id: uuid.UUID, generation: int) -> None:
        """`organization_id` had no endpoint when `generation` was read."""
        if generation != self.generation:
            return
        if len(self._until) >= self.MAX_ENTRIES:
            self._until.clear()
            self._renewing.clear()
        self._until[organization_id] = self.monotonic() + self.ttl_s
        self._renewing.discard(organization_id)

    def forget(self, changes: PrincipalChanges) -> None:
        """Apply committed changes (a follower of the principal cache)."""
        if not (changes.everything or changes.endpoints):
            return
        self.generation += 1
        if changes.everything:
            self._until.clear()
            self._renewing.clear()
        for organization_id in changes.endpoints:
            self._until.pop(organization_id, None)
            self._renewing.discard(organization_id)

    def install(self, engine: Engine) -> None:
        """Serve the sessions of `engine` (an API process's)."""
        _quiet[engine] = self

    def uninstall(self, engine: Engine) -> None:
        if _quiet.get(engine) is self:
            del _quiet[engine]


_quiet: weakref.WeakKeyDictionary[Engine, QuietOrganizations] = weakref.WeakKeyDictionary()


def _quiet_organizations(
    session: AsyncSession, organization_id: uuid.UUID
) -> QuietOrganizations | None:
    """The `QuietOrganizations` of the session's engine, unless there is none or this very
    transaction changed the organization's endpoints (not yet committed, so not forgotten)."""
    bind = session.sync_session.bind
    quiet = _quiet.get(bind) if isinstance(bind, Engine) else None
    if quiet is None:
        return None
    changes: PrincipalChanges | None = session.sync_session.info.get(CHANGES_KEY)
    if changes is not None and (changes.everything or organization_id in changes.endpoints):
        return None
    return quiet


def quiet_everywhere(
    where: AsyncSession | AsyncEngine, organization_ids: Sequence[uuid.UUID]
) -> bool:
    """Whether each of `organization_ids` is known (`QuietOrganizations`) to have no enabled
    webhook endpoint: their events would have no delivery to write. `where`: the session the
    events would be written in, or the engine of a write outside any session."""
    if not organization_ids:
        return False
    for organization_id in organization_ids:
        quiet = (
            _quiet_organizations(where, organization_id)
            if isinstance(where, AsyncSession)
            else _quiet.get(where.sync_engine)
        )
        if quiet is None or not quiet.quiet(organization_id):
            return False
    return True


async def create_deliveries_for(
    session: AsyncSession, organization_id: uuid.UUID, events: Sequence[Event]
) -> None:
    """`create_deliveries` for many events of one organization: its endpoints are read once."""
    quiet = _quiet_organizations(session, organization_id)
    if quiet is not None and quiet.skips_reading(organization_id):
        return
    generation = quiet.generation if quiet is not None else 0
    enabled = list(
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organization_id == organization_id,
                WebhookEndpoint.status == EndpointStatus.ENABLED,
            )
        )
    )
    if quiet is not None:
        if enabled:
            quiet.drop(organization_id)  # an endpoint no message told of (one lost)
        else:
            quiet.remember(organization_id, generation)
    if not enabled:
        return
    now = clock.now()
    endpoints: dict[uuid.UUID, WebhookEndpoint] = {}
    for event in events:
        recipients = _recipients(enabled, event)
        endpoints.update((endpoint.id, endpoint) for endpoint in recipients)
        session.add_all(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                status=DeliveryStatus.PENDING,
                attempts=0,
                due_at=now,
                retrying_since=now,
            )
            for endpoint in recipients
        )
    if not endpoints:
        return
    await session.flush()
    if current_unit_of_work_or_none() is None:
        return  # no unit of work to send jobs after: the periodic dispatcher claims them
    try:
        settings = get_runtime().settings
    except RuntimeError:
        return
    for endpoint_id in endpoints:
        await hand_over(session, settings, endpoint_id)


def wake_dispatcher() -> None:
    """Ask for one dispatch right after the commit (once per unit of work). Without a unit of
    work the periodic dispatcher finds the deliveries within its interval."""
    uow = current_unit_of_work_or_none()
    if uow is None:
        return
    wake = PendingJob(name=DISPATCH_JOB, kwargs={})
    if wake not in uow.jobs:
        uow.jobs.append(wake)


@sa_event.listens_for(Session, "after_flush")
def _endpoints_flushed(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, WebhookEndpoint) and obj.organization_id is not None:
            pending_changes(session).endpoints.add(obj.organization_id)


@watch_writes
def _endpoints_written(session: Session, statement: Executable) -> None:
    """A bulk statement on the endpoints: which organizations it touched is not known."""
    table = getattr(statement, "table", None)
    if statement.is_dml and getattr(table, "name", None) == WebhookEndpoint.__tablename__:
        pending_changes(session).everything = True
