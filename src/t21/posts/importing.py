"""Importing a file of posts (CSV or JSON) into a brand.

Each row becomes the body of `POST /api/v1/posts` and is checked by the very dry run that
`POST /posts/validate` answers (`dryrun.validate_post`), so an imported post meets the rules a
post written by hand meets. What makes 10,000 rows take seconds is reading the brand's
accounts and the file's media once for all rows, taking every queued row's slot in one walk of
the queue, and inserting the posts, their targets and their events in a few statements.

A real import is all-or-nothing unless `partial`: one row with a problem and nothing is stored
(422 listing every row's problems). A dry run stores nothing and answers the same problems.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core.errors import ValidationFailed
from t21.core.problems import validation_entries
from t21.core.runtime import Runtime
from t21.events.service import record_events
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.posts import dryrun
from t21.posts.duplicates import InFile, lock_accounts, of_drafts
from t21.posts.known import known_of
from t21.posts.models import PostStatus
from t21.posts.reading import views
from t21.posts.schemas import PostIn, post_out
from t21.posts.service import NewPost, new_post
from t21.posts.validation import error, is_scheduling, quota_warnings
from t21.queue import service as queue
from t21.social.models import SocialAccount

# The columns of a file, in the order an export writes them.
COLUMNS = (
    "content",
    "scheduled_at",
    "schedule",
    "accounts",
    "media_ids",
    "first_comment",
    "thread",
)
# What an import also reads: a row's own leave to repeat another post.
IMPORT_COLUMNS = (*COLUMNS, "allow_duplicate")
# Lists (`accounts`, `media_ids`) in one CSV cell.
LIST_SEPARATOR = ";"
# A CSV cell starting with one of these is a formula to a spreadsheet: an export prefixes it
# with `'`, and an import takes that prefix off again, so the text survives the round trip.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEFUSER = "'"
# Rows inserted per statement: bounded parameters per statement (SQLite, asyncpg).
INSERT_BATCH = 1000


class ImportRow(BaseModel):
    """One row of a file, as written: JSON objects are read as this directly, CSV rows after
    their cells are split."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = None
    scheduled_at: str | None = None
    schedule: str | None = None
    accounts: list[str] = []
    media_ids: list[str] = []
    first_comment: str | None = None
    thread: list[Any] | None = None
    allow_duplicate: bool = False


@dataclass
class ReadRow:
    """A row of the file (numbered from 1) as read, or the problems that kept it unread."""

    number: int
    row: ImportRow | None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Imported:
    dry_run: bool
    rows: int
    valid: int
    post_ids: list[uuid.UUID]
    errors: list[dict[str, Any]]
    warnings: list[dict[str, str]]


# --- reading the file ---------------------------------------------------------------------------


def file_problem(message: str, **extra: Any) -> ValidationFailed:
    """422 about the file as a whole (its encoding, its CSV, its header)."""
    return ValidationFailed(message, errors=[error(["body", "file"], message, **extra)])


def read_rows(
    data: bytes, *, filename: str | None, content_type: str | None, max_rows: int
) -> list[ReadRow]:
    """The file's data rows; a file that can't be read at all → 422 naming the problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as failure:
        raise file_problem(
            f"The file is not UTF-8 text (byte {failure.start} is not valid UTF-8).",
            rule="encoding",
        ) from None
    if "\x00" in text:
        raise file_problem("The file contains NUL characters; it isn't text.", rule="encoding")
    rows = _json_rows(text) if _is_json(filename, content_type, text) else _csv_rows(text, max_rows)
    if not rows:
        raise file_problem("The file has no rows to import.", rule="empty")
    if len(rows) > max_rows:
        raise file_problem(
            f"The file has {len(rows)} rows; one import takes at most {max_rows}.",
            rule="too_many_rows",
        )
    return rows


def _is_json(filename: str | None, content_type: str | None, text: str) -> bool:
    name = (filename or "").lower()
    if name.endswith(".json"):
        return True
    if name.endswith(".csv"):
        return False
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return True
    if media in ("text/csv", "application/csv"):
        return False
    return text.lstrip().startswith("[")


def _json_rows(text: str) -> list[ReadRow]:
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError) as failure:
        raise file_problem(f"The file is not valid JSON: {failure}.", rule="json") from None
    if not isinstance(decoded, list):
        raise file_problem("A JSON file holds an array of posts (objects).", rule="json")
    return [_validated(number, item) for number, item in enumerate(decoded, start=1)]


def _validated(number: int, item: Any) -> ReadRow:
    if not isinstance(item, dict):
        return ReadRow(number, None, [error([], "A row is an object of the import's fields.")])
    try:
        return ReadRow(number, ImportRow.model_validate(item))
    except ValidationError as failure:
        return ReadRow(number, None, validation_entries(failure.errors()))


def _csv_rows(text: str, max_rows: int) -> list[ReadRow]:
    records = _csv_records(text)
    header = next(records, None)
    if header is None:
        raise file_problem("The file is empty; its first line names the columns.", rule="empty")
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in IMPORT_COLUMNS]
    if unknown:
        raise file_problem(
            f"Unknown column {unknown[0]!r}; the columns are {', '.join(IMPORT_COLUMNS)}.",
            rule="columns",
        )
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise file_problem(f"The column {doubled[0]!r} appears twice.", rule="columns")
    rows: list[ReadRow] = []
    for record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not rows
        number = len(rows) + 1
        if number > max_rows:
            # Counted, not read: the caller refuses the file for its size.
            rows.append(ReadRow(number, None))
            continue
        if len(record) > len(names):
            message = f"This row has {len(record)} cells; the header names {len(names)} columns."
            rows.append(ReadRow(number, None, [error([], message)]))
            continue
        cells = dict(zip(names, (_undefused(cell) for cell in record), strict=False))
        rows.append(_csv_row(number, cells))
    return rows


def _csv_records(text: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as failure:
            raise file_problem(
                f"The file is not valid CSV (line {reader.line_num}: {failure}).", rule="csv"
            ) from None
        yield record


def _undefused(cell: str) -> str:
    """A cell as it was before an export defused it (see `FORMULA_STARTS`)."""
    if cell.startswith(DEFUSER) and cell.lstrip(DEFUSER).startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _csv_row(number: int, cells: dict[str, str]) -> ReadRow:
    fields: dict[str, Any] = {}
    for name in ("content", "first_comment"):
        if cells.get(name):
            fields[name] = cells[name]
    for name in ("scheduled_at", "schedule", "allow_duplicate"):
        if (cells.get(name) or "").strip():
            fields[name] = cells[name].strip()
    for name in ("accounts", "media_ids"):
        fields[name] = [
            part.strip() for part in (cells.get(name) or "").split(LIST_SEPARATOR) if part.strip()
        ]
    thread = (cells.get("thread") or "").strip()
    if thread:
        try:
            fields["thread"] = json.loads(thread)
        except (ValueError, RecursionError):
            message = 'The thread cell holds a JSON array of parts, e.g. [{"content": "2/2"}].'
            return ReadRow(number, None, [error(["thread"], message)])
    return _validated(number, fields)


# --- from a row to a post -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountIndex:
    """A brand's accounts by `platform:username` (usernames without `@`, any case)."""

    by_name: dict[tuple[str, str], list[uuid.UUID]]

    @classmethod
    def of(cls, accounts: Sequence[SocialAccount]) -> AccountIndex:
        by_name: dict[tuple[str, str], list[uuid.UUID]] = {}
        for account in accounts:
            if account.username:
                key = (account.platform, _username(account.username))
                by_name.setdefault(key, []).append(account.id)
        return cls(by_name)

    def resolve(self, reference: str) -> uuid.UUID | str:
        """The account an `accounts` entry names, or why none."""
        try:
            return uuid.UUID(reference)
        except ValueError:
            pass
        platform, colon, username = reference.partition(":")
        if not colon or not platform.strip() or not username.strip():
            return f"{reference!r} is neither an account id nor platform:username."
        found = self.by_name.get((platform.strip().lower(), _username(username)), [])
        if not found:
            return f"The brand has no {platform.strip()} account {username.strip()!r}."
        if len(found) > 1:
            return (
                f"The brand has several {platform.strip()} accounts {username.strip()!r}; "
                "give the id of one."
            )
        return found[0]


def _username(name: str) -> str:
    return name.strip().lstrip("@").lower()


def create_body(
    row: ImportRow, brand_id: uuid.UUID, accounts: AccountIndex, *, allow_duplicate: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `POST /api/v1/posts` body a row stands for, and the problems of its `accounts`.

    Every account becomes a target; `first_comment` becomes each target's
    `options.first_comment` and `thread` each target's `thread`, so that the create path's own
    rules judge them."""
    problems: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    for index, reference in enumerate(row.accounts):
        found = accounts.resolve(reference)
        if isinstance(found, str):
            problems.append(error(["accounts", index], found, rule="account"))
            continue
        target: dict[str, Any] = {"social_account_id": str(found)}
        if row.first_comment is not None:
            target["options"] = {"first_comment": row.first_comment}
        if row.thread is not None:
            target["thread"] = row.thread
        targets.append(target)
    body: dict[str, Any] = {
        "brand_id": str(brand_id),
        "content": row.content or "",
        "media_ids": list(row.media_ids),
        "targets": targets,
        "allow_duplicate": allow_duplicate or row.allow_duplicate,
    }
    if row.scheduled_at is not None:
        body["scheduled_at"] = row.scheduled_at
    if row.schedule is not None:
        body["schedule"] = row.schedule
    return body, problems


@dataclass
class _Row:
    number: int
    fields: PostIn | None
    errors: list[dict[str, Any]]
    checked: dryrun.DryRun | None = None


def _parsed(
    read: ReadRow, brand_id: uuid.UUID, accounts: AccountIndex, allow_duplicate: bool
) -> _Row:
    if read.row is None:
        return _Row(read.number, None, read.errors)
    body, problems = create_body(read.row, brand_id, accounts, allow_duplicate=allow_duplicate)
    if problems:
        return _Row(read.number, None, problems)
    try:
        return _Row(read.number, PostIn.model_validate(body), [])
    except ValidationError as failure:
        return _Row(read.number, None, validation_entries(failure.errors(), ["body"]))


# --- the import ---------------------------------------------------------------------------------


async def import_posts(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    brand_id: uuid.UUID,
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    dry_run: bool,
    partial: bool,
    allow_duplicate: bool = False,
) -> Imported:
    """Check every row of the file as `POST /posts/validate` would; unless `dry_run`, create
    the posts of the valid rows, all in one transaction (all-or-nothing unless `partial`)."""
    brand = await brands_service.get_brand(session, principal, brand_id, Action.WRITE_CONTENT)
    read = read_rows(
        data,
        filename=filename,
        content_type=content_type,
        max_rows=runtime.settings.import_max_rows,
    )
    accounts = AccountIndex.of(
        list(await session.scalars(select(SocialAccount).where(SocialAccount.brand_id == brand.id)))
    )
    rows = [_parsed(one, brand.id, accounts, allow_duplicate) for one in read]
    await _queue(session, brand, rows, take=not dry_run)
    wanted = [row.fields for row in rows if row.fields is not None]
    known = await known_of(
        session,
        principal,
        {target.social_account_id for fields in wanted for target in fields.targets},
        {media_id for fields in wanted for media_id in fields.media_ids},
    )
    if not dry_run:
        # Another import or create of the same text waits until this one commits.
        await lock_accounts(
            session, [target.social_account_id for fields in wanted for target in fields.targets]
        )
    in_file = InFile()
    for row in rows:
        if row.fields is None or row.errors:
            continue
        row.checked = await dryrun.validate_post(
            session,
            runtime,
            principal,
            row.fields,
            brand=brand,
            known=known,
            warn=False,
            duplicates_refused=True,
        )
        row.errors = row.checked.errors
        at = row.fields.scheduled_at
        if row.errors or not is_scheduling(row.fields) or at is None:
            continue
        outgoing = of_drafts([target.draft for target in row.checked.targets])
        if not row.fields.allow_duplicate:
            row.errors = in_file.clashes(row.number, outgoing, at)
        if not row.errors:
            in_file.add(row.number, outgoing, at)
    problems = [{"row": row.number, "errors": row.errors} for row in rows if row.errors]
    valid = [row for row in rows if not row.errors]
    if problems and not partial and not dry_run:
        raise ValidationFailed(
            f"{len(problems)} of {len(rows)} rows have problems; nothing was imported. Fix "
            "them, or import with partial=true to keep the valid rows.",
            errors=problems,
        )
    scheduling = sum(
        len(row.fields.targets) for row in valid if row.fields and is_scheduling(row.fields)
    )
    warnings = (
        await quota_warnings(session, runtime.settings, brand.organization_id, scheduling)
        if scheduling
        else []
    )
    post_ids = [] if dry_run else await _create(session, runtime, principal, brand, valid)
    return Imported(
        dry_run=dry_run,
        rows=len(rows),
        valid=len(valid),
        post_ids=post_ids,
        errors=problems,
        warnings=warnings,
    )


async def _queue(session: AsyncSession, brand: Brand, rows: list[_Row], *, take: bool) -> None:
    """Queued rows take the brand's next free slots in row order (taken, the brand locked, for
    a real import; looked at for a dry run); those past the last free slot get its problem."""
    queued = [row for row in rows if row.fields is not None and row.fields.schedule == "queue"]
    if not queued:
        return
    count = len(queued)
    slots = (
        await queue.take_free(session, brand, count)
        if take
        else await queue.next_free(session, brand, count)
    )
    for row, at in zip(queued, slots, strict=False):
        assert row.fields is not None
        row.fields = row.fields.model_copy(
            update={"scheduled_at": at, "status": "scheduled", "schedule": None}
        )
    for row in queued[len(slots) :]:
        message = (
            "The brand's queue has no free slot left for this row; give scheduled_at."
            if brand.queue_slots
            else "The brand's queue has no slots; add some (PUT /api/v1/brands/{id}/queue) or "
            "give scheduled_at."
        )
        row.errors.append(error(["body", "schedule"], message, rule="queue_empty"))


async def _create(
    session: AsyncSession, runtime: Runtime, principal: Principal, brand: Brand, rows: list[_Row]
) -> list[uuid.UUID]:
    """The posts of checked rows, inserted in batches, with their `post.created` (and
    `post.scheduled`, or `post.approval_requested` when a member imports into a brand that
    requires approval) events."""
    built: list[NewPost] = []
    for row in rows:
        assert row.fields is not None
        assert row.checked is not None
        drafts = [target.draft for target in row.checked.targets]
        built.append(new_post(principal, brand, row.fields, drafts, row.checked.assets))
    for start in range(0, len(built), INSERT_BATCH):
        batch = built[start : start + INSERT_BATCH]
        session.add_all(one.post for one in batch)
        await session.flush()
        session.add_all(target for one in batch for target in one.targets)
        session.add_all(media for one in batch for media in one.media)
        await session.flush()
        events: list[tuple[str, dict[str, Any]]] = []
        for shown in await views(session, [one.post for one in batch]):
            data = post_out(runtime, shown).model_dump(mode="json", exclude={"warnings"})
            events.append(("post.created", data))
            if shown.post.status is PostStatus.SCHEDULED:
                events.append(("post.scheduled", data))
            elif shown.post.status is PostStatus.PENDING_APPROVAL:
                events.append(("post.approval_requested", data))
        await record_events(session, organization_id=brand.organization_id, events=events)
    return [one.post.id for one in built]
