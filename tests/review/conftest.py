"""Approval tests write posts the way tests/posts does: the sandbox networks over HTTP."""

from __future__ import annotations

from tests.posts.conftest import desk  # noqa: F401  (fixtures)
from tests.social.conftest import sandbox, world  # noqa: F401  (fixtures)
