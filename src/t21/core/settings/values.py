"""Parsing shared by several settings: comma-separated lists, database URLs."""

from __future__ import annotations

from typing import Any


def split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL or SQLite URL and pick the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must be a URL such as postgresql://user@host/db or sqlite:///var/t21.db")
    base = scheme.split("+", 1)[0]
    if base in {"postgres", "postgresql"}:
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use postgresql:// or sqlite:///")
