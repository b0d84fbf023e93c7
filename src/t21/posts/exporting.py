"""Exporting the schedule (the list's posts, with its filters) as a file an import takes back.

The file is streamed: posts are read in keyset batches, each in its own short session, and
written out as they come, so the whole schedule is never in memory nor one transaction held
open for the length of a download. CSV cells that a spreadsheet would run as formulas are
defused with a leading `'` (which an import takes off again).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands import service as brands_service
from t21.core.pagination import PageRequest, decode_cursor
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.tenancy import Principal
from t21.posts.importing import COLUMNS, DEFUSER, FORMULA_STARTS, LIST_SEPARATOR
from t21.posts.listing import PostFilters, list_posts
from t21.posts.reading import PostView

ExportFormat = Literal["csv", "json"]
# Posts read per batch (one short session each).
BATCH = 500
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def row_of(one: PostView) -> dict[str, Any]:
    """The post as a row of the import's columns. The import writes one text, first comment
    and thread for all of a row's accounts: they are taken from the post and its first target
    (a target's own text is not carried)."""
    targets = [target for target in one.targets if target.social_account_id is not None]
    options = dict(targets[0].options or {}) if targets else {}
    first_comment = options.get("first_comment")
    return {
        "content": one.post.content,
        "scheduled_at": _rfc3339(one.post.scheduled_at),
        "schedule": None,
        "accounts": [str(target.social_account_id) for target in targets],
        "media_ids": [str(asset.id) for asset in one.media],
        "first_comment": first_comment if isinstance(first_comment, str) else None,
        "thread": list(targets[0].thread) if targets and targets[0].thread else None,
    }


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def defused(cell: str) -> str:
    """The cell, prefixed with `'` if a spreadsheet would take it for a formula (or if it is
    such a cell already prefixed: the import takes exactly one `'` off)."""
    return DEFUSER + cell if cell.lstrip(DEFUSER).startswith(FORMULA_STARTS) else cell


def csv_cells(row: dict[str, Any]) -> list[str]:
    cells: list[str] = []
    for name in COLUMNS:
        value = row[name]
        if value is None:
            cells.append("")
        elif isinstance(value, list) and name == "thread":
            cells.append(json.dumps(value, ensure_ascii=False))
        elif isinstance(value, list):
            cells.append(LIST_SEPARATOR.join(value))
        else:
            cells.append(str(value))
    return [defused(cell) for cell in cells]


def _csv_text(records: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    return buffer.getvalue()


async def check_filters(session: AsyncSession, principal: Principal, filters: PostFilters) -> None:
    """404 before the download starts when the filter names a brand the caller can't see."""
    if filters.brand_id is not None:
        await brands_service.get_brand(session, principal, filters.brand_id)


async def export_posts(
    runtime: Runtime, principal: Principal, filters: PostFilters, format: ExportFormat
) -> AsyncIterator[bytes]:
    """The file, piece by piece: the posts the list would show with `filters`, in its order."""
    if format == "csv":
        yield _csv_text([list(COLUMNS)]).encode()
    else:
        yield b"["
    first = True
    page = PageRequest(limit=BATCH)
    while True:
        async with session_scope(runtime) as session:
            shown, cursor = await list_posts(session, principal, page, filters)
        rows = [row_of(one) for one in shown]
        if format == "csv":
            yield _csv_text([csv_cells(row) for row in rows]).encode()
        elif rows:
            text = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
            yield (("\n" if first else ",\n") + text).encode()
            first = False
        if cursor is None:
            break
        page = PageRequest(limit=BATCH, after=decode_cursor(cursor))
    if format == "json":
        yield b"\n]\n"
