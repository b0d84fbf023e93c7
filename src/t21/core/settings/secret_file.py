"""The signing secret generated once into the data folder when none is configured."""

from __future__ import annotations

import secrets
from pathlib import Path

SECRET_FILE_NAME = "secret_key"  # noqa: S105 (a file name)


def generated_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Created with owner-only permissions; a concurrent creator wins and we read its value.
    try:
        with path.open("x", encoding="utf-8") as handle:
            path.chmod(0o600)
            handle.write(value)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    return value
