"""`t21 create-user --staff` and `t21 staff grant|revoke`: the only ways to make someone staff,
each change audited as staff in the user's personal organization."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from t21.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`t21` in an empty directory: its SQLite database lands in ./var."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(cli: CliRunner, *args: str) -> Any:
    return cli.invoke(app, list(args), catch_exceptions=False)


def _rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "var" / "t21.db") as db:
        return list(db.execute(sql))


def test_staff_are_made_and_unmade_from_the_command_line_and_audited(
    cli: CliRunner, tmp_path: Path
) -> None:
    made = run(
        cli, "create-user", "--email", "ops@example.com", "--name", "Ops", "--password",
        "a sturdy passphrase", "--staff",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "as T21 staff" in made.output
    plain = run(
        cli, "create-user", "--email", "ann@example.com", "--name", "Ann", "--password",
        "a sturdy passphrase",
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    staff = dict(_rows(tmp_path, "SELECT email, is_staff FROM users"))
    assert staff == {"ops@example.com": 1, "ann@example.com": 0}

    granted = run(cli, "staff", "grant", "Ann@Example.com")
    assert granted.exit_code == 0, granted.output
    assert "ann@example.com is now staff." in granted.output
    again = run(cli, "staff", "grant", "ann@example.com")
    assert "was already staff" in again.output
    revoked = run(cli, "staff", "revoke", "ops@example.com")
    assert revoked.exit_code == 0, revoked.output
    assert "ops@example.com is no longer staff." in revoked.output
    staff = dict(_rows(tmp_path, "SELECT email, is_staff FROM users"))
    assert staff == {"ops@example.com": 0, "ann@example.com": 1}

    entries = _rows(
        tmp_path,
        "SELECT a.action, a.actor_type, u.email FROM audit_entries a "
        "JOIN memberships m ON m.organization_id = a.organization_id "
        "JOIN users u ON u.id = m.user_id "
        "WHERE a.action LIKE 'staff.%' ORDER BY a.id",
    )
    # One entry per change (none for the grant that changed nothing), in the user's organization.
    assert entries == [
        ("staff.granted", "staff", "ops@example.com"),
        ("staff.granted", "staff", "ann@example.com"),
        ("staff.revoked", "staff", "ops@example.com"),
    ]

    unknown = run(cli, "staff", "grant", "nobody@example.com")
    assert unknown.exit_code == 2
    assert "No account" in unknown.output
