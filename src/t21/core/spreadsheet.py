"""CSV lines that are safe to open in a spreadsheet: a text cell starting with `= + - @`, a tab or
a carriage return would run as a formula there, so it gets a leading apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell: formulas defused, `None` empty."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_line(cells: Sequence[Any]) -> bytes:
    """One CSV record (RFC 4180 line ending), UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue().encode()
