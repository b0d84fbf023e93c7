"""The import's file reader against the export's writer: whatever a row holds, a CSV export of it
reads back as the same row, and no exported cell is a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t21.posts.exporting import csv_cells, defused
from t21.posts.importing import COLUMNS, FORMULA_STARTS, ImportRow, read_rows

# Text without NUL (refused in a file) and without the characters CSV or a list cell frames with
# being a problem: any character goes in `content`, list items avoid the separator.
characters = st.characters(codec="utf-8", exclude_characters="\x00")
texts = st.text(characters, max_size=40)
items = st.text(characters.filter(lambda c: c != ";"), max_size=12).map(str.strip).filter(bool)
# The machine running the suite may be busy: generating inputs is not what is under test.
busy_machine = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def exported(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(csv_cells(row) for row in rows)
    return buffer.getvalue().encode()


@busy_machine
@given(texts)
def test_a_defused_cell_never_starts_like_a_formula_and_reads_back_as_it_was(text: str) -> None:
    cell = defused(text)
    assert not cell.startswith(FORMULA_STARTS)
    [read] = read_rows(
        exported(
            [
                {
                    "content": text,
                    "scheduled_at": None,
                    "schedule": None,
                    "accounts": ["x"],
                    "media_ids": [],
                    "first_comment": None,
                    "thread": None,
                }
            ]
        ),
        filename="posts.csv",
        content_type=None,
        max_rows=10,
    )
    assert read.row is not None
    assert (read.row.content or "") == text


@busy_machine
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "content": texts.filter(str.strip),
                "scheduled_at": st.none() | st.just("2030-01-01T09:00:00Z"),
                "schedule": st.none(),
                "accounts": st.lists(items, max_size=3),
                "media_ids": st.lists(items, max_size=3),
                "first_comment": st.none() | texts.filter(bool),
                "thread": st.none()
                | st.lists(st.fixed_dictionaries({"content": texts}), min_size=1),
            }
        ),
        min_size=1,
        max_size=5,
    )
)
def test_every_exported_row_reads_back_as_the_same_row(rows: list[dict[str, Any]]) -> None:
    read = read_rows(exported(rows), filename="posts.csv", content_type=None, max_rows=10)
    assert [one.row for one in read] == [ImportRow.model_validate(row) for row in rows]
    assert [one.number for one in read] == list(range(1, len(rows) + 1))
