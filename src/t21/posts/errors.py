"""The errors of posts that have a code of their own."""

from __future__ import annotations

from t21.core.errors import Conflict


class DuplicateContent(Conflict):
    """The same text is already on its way to (or out on) the same account within a day."""

    code = "duplicate_content"
    title = "Duplicate content"
