"""A draft's create on PostgreSQL without a session: `create_post_direct`, on a pooled connection
of its own, on the driver (`core.prepared.pooled_driver`); `service.create_post` otherwise."""

from __future__ import annotations

import uuid

from t21.core.prepared import DriverFailed, pooled_driver
from t21.core.routing import model_json
from t21.core.rows import insert_together, with_defaults
from t21.core.runtime import Runtime
from t21.events.hub import hub_of
from t21.events.service import new_events
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.posts.events import event_json_of
from t21.posts.known import brand_and_known_on, known_brands_of, one_statement
from t21.posts.schemas import PostIn, post_out
from t21.posts.service import as_written, new_post
from t21.posts.validation import content_of, is_scheduling, post_schedule_errors
from t21.webhooks.fanout import quiet_everywhere


async def create_post_direct(
    runtime: Runtime, principal: Principal, fields: PostIn
) -> bytes | None:
    """`create_post` without a session, when it may run so (`_direct`): on a pooled
    connection of its own, on the driver (`core.prepared.pooled_driver`), its two statements
    each atomic on its own (the SELECT of the brand and its accounts, skipped when this process
    read the same a moment ago, `known.KnownBrands`; the INSERT of the post, its targets and
    its events). ~0.7 ms of CPU less than the session's path on PostgreSQL (2026-12-07): the
    session and its unit of work (~90 µs made and closed unused), SQLAlchemy's execution of
    the two statements and the ORM's loading of the brand and accounts. Its answer, the
    post's JSON (`post_json`), is made from the same `PostOut` as its event.

    None when it may not, or when the server refused a statement (nothing was written): the
    caller then runs `create_post` in a unit of work, which answers as it always has (it
    meets the refusal as SQLAlchemy's error). A connection lost before the INSERT's answer
    may have written the post: that is raised (503, `core.db.database_unavailable`), never run
    a second time."""
    if not _direct(runtime, principal, fields):
        return None
    try:
        async with pooled_driver(runtime.engine) as driver:
            if driver is None:
                return None
            brand, known = await brand_and_known_on(
                driver,
                principal,
                fields.brand_id,
                Action.WRITE_CONTENT,
                fields.targets,
                known_brands_of(runtime.engine),
            )
            errors = post_schedule_errors(fields)
            drafts, assets = content_of(
                runtime,
                brand,
                fields.content,
                fields.media_ids,
                fields.targets,
                errors,
                known=known,
            )
            built = new_post(principal, brand, fields, drafts, assets)
            shown, rows, types = as_written(principal, brand, built, assets)
            out = post_out(runtime, shown)
            data = event_json_of(out)
            events = new_events(built.post.organization_id, [(type, data) for type in types])
            rows += with_defaults(events)
            await driver.execute(*insert_together(rows, runtime.engine.dialect))
    except DriverFailed as failed:
        if failed.maybe_written:
            raise
        # Refused (a foreign key: the brand or an account gone since it was read, say): what
        # was kept of them is read again next time.
        kept = known_brands_of(runtime.engine)
        if kept is not None:
            kept.drop(fields.brand_id, _account_ids(fields))
        return None
    hub_of(runtime).committed({built.post.organization_id})
    return model_json(out)


def _account_ids(fields: PostIn) -> frozenset[uuid.UUID]:
    return frozenset(target.social_account_id for target in fields.targets)


def _direct(runtime: Runtime, principal: Principal, fields: PostIn) -> bool:
    """Whether a create may run as `create_post_direct`: on PostgreSQL, a draft (no queue
    slot, no duplicate guard, no quota to warn of) whose reads are the one statement of the
    brand and its accounts (no media, no AI call to check), of organizations known to have no
    webhook endpoint (`quiet_everywhere`: no delivery to write with its events)."""
    return (
        fields.schedule != "queue"
        and not is_scheduling(fields)
        and fields.ai_call_id is None
        and one_statement(fields.media_ids, fields.targets)
        and runtime.engine.dialect.name == "postgresql"
        and quiet_everywhere(runtime.engine, principal.organization_ids)
    )
