"""Every `T21_…` setting that `.env.example` and the README name exists, and `.env.example`
explains every setting there is: a reader never copies a name T21 ignores."""

from __future__ import annotations

import re
from pathlib import Path

from t21.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bT21_[A-Z0-9_]*[A-Z0-9]\b")
# Read by the test suite and CI, not by T21.
TEST_ONLY = "T21_TEST_"


def _known(settings: Settings) -> set[str]:
    return {f"T21_{name.upper()}" for name in settings.flat()}


def _named_in(path: Path) -> set[str]:
    return {name for name in NAME.findall(path.read_text()) if not name.startswith(TEST_ONLY)}


def test_every_setting_the_docs_name_exists(settings: Settings) -> None:
    known = _known(settings)
    for document in (ROOT / ".env.example", ROOT / "README.md"):
        unknown = sorted(_named_in(document) - known)
        assert not unknown, f"{document.name} names settings T21 doesn't have: {unknown}"


def test_env_example_explains_every_setting(settings: Settings) -> None:
    missing = sorted(_known(settings) - _named_in(ROOT / ".env.example"))
    assert not missing, f".env.example leaves out: {missing}"
