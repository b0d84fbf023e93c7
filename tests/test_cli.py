"""The `t21` command: serving, migrating, the worker, and clear refusals instead of tracebacks."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from t21 import __version__
from t21.cli import app
from tests.conftest import TEST_REDIS_URL, TEST_SECRET
from tests.support.processes import clean_env, free_port, kill, start, stop, wait_for


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Runs `t21` in an empty directory with only the given T21_* variables."""
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(cli: CliRunner, *args: str, **env: str) -> Any:
    return cli.invoke(app, list(args), env=env, catch_exceptions=False)


def test_version(cli: CliRunner) -> None:
    result = run(cli, "version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"t21 {__version__}"


def test_migrate_upgrades_an_empty_sqlite_database_once(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = run(cli, "migrate", T21_DATABASE_URL=url)
    assert first.exit_code == 0, first.output
    assert "upgraded from empty to" in first.stdout
    again = run(cli, "migrate", T21_DATABASE_URL=url)
    assert again.exit_code == 0
    assert "is already at" in again.stdout


def test_migrate_sql_prints_the_schema_without_touching_a_database(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = run(cli, "migrate", "--sql", T21_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE email_outbox" in result.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.postgres
def test_migrate_upgrades_an_empty_postgresql_database(
    cli: CliRunner, empty_pg_database: str
) -> None:
    result = run(cli, "migrate", T21_DATABASE_URL=empty_pg_database)
    assert result.exit_code == 0, result.output
    assert "upgraded from empty to" in result.stdout


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (["serve"], {"T21_PORT": "eighty"}, "T21_PORT"),
        (["migrate"], {"T21_DATABASE_URL": "mysql://x/y"}, "T21_DATABASE_URL"),
        (["serve"], {"T21_FACEBOOK_UPLOAD_BASE": "ftp://x"}, "T21_FACEBOOK_UPLOAD_BASE"),
        (["serve"], {"T21_ENV": "production"}, "T21_SECRET_KEY is not set"),
        (["serve"], {"T21_ENV": "production"}, "T21_METRICS_TOKEN is not set"),
        (["worker"], {}, "T21_REDIS_URL is not set"),
        (["serve", "--no-worker"], {}, "--no-worker needs T21_REDIS_URL"),
        (["send-test-email", "--to", "not-an-address"], {}, "not an email address"),
    ],
)
def test_bad_configuration_is_explained_without_a_traceback(
    cli: CliRunner, command: list[str], env: dict[str, str], expected: str
) -> None:
    result = run(cli, *command, **env)
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_serve_explains_an_unreachable_database(cli: CliRunner) -> None:
    result = run(cli, "serve", T21_DATABASE_URL="postgresql://app:hunter2@127.0.0.1:1/t21")
    assert result.exit_code == 1
    assert "can't be used" in result.output
    assert "T21_DATABASE_URL" in result.output
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_serve_refuses_an_unmigrated_postgresql_database(
    cli: CliRunner, empty_pg_database: str
) -> None:
    result = run(cli, "serve", T21_DATABASE_URL=empty_pg_database)
    assert result.exit_code == 1
    assert "Run `t21 migrate` first" in result.output


def test_send_test_email_through_the_console_backend(cli: CliRunner, tmp_path: Path) -> None:
    result = run(cli, "send-test-email", "--to", "ops@example.com")
    assert result.exit_code == 0, result.output
    assert "Sent to ops@example.com through console" in result.output
    [eml] = list((tmp_path / "var" / "mail").glob("*.eml"))
    assert "email delivery works" in eml.read_text()


def test_send_test_email_reports_a_failure_and_keeps_the_email(cli: CliRunner) -> None:
    result = run(
        cli,
        "send-test-email",
        "--to",
        "ops@example.com",
        T21_EMAIL_BACKEND="smtp",
        T21_SMTP_HOST="127.0.0.1",
        T21_SMTP_PORT=str(free_port()),
        T21_SMTP_STARTTLS="false",
    )
    assert result.exit_code == 1
    assert "Not sent (pending)" in result.output
    assert "will be retried" in result.output


def test_config_shows_settings_with_secrets_hidden(cli: CliRunner) -> None:
    result = run(
        cli,
        "config",
        T21_SECRET_KEY="k" * 40,
        T21_DATABASE_URL="postgresql://app:hunter2@db/t21",
        T21_SMTP_PASSWORD="smtp-pass-1",
        T21_LINKEDIN_CLIENT_ID="linkedin-app-7",
        T21_TWITTER_CLIENT_SECRET="x-secret-1",
    )
    assert result.exit_code == 0, result.output
    assert "T21_DATABASE_URL" in result.output
    assert "(set, hidden)" in result.output
    # Each network's own settings are listed by their variables, secrets hidden too.
    assert "linkedin-app-7" in result.output
    assert "T21_TWITTER_CLIENT_SECRET" in result.output
    for secret in ("k" * 40, "hunter2", "smtp-pass-1", "x-secret-1"):
        assert secret not in result.output
    assert "Not fit for production yet" in result.output


def _config_rows(output: str) -> dict[str, list[str]]:
    rows = [line.split() for line in output.splitlines() if line.startswith("T21_")]
    return {row[0]: row[1:] for row in rows}


def test_config_shows_unset_values_as_unset_and_defaults_as_defaults(cli: CliRunner) -> None:
    result = run(
        cli,
        "config",
        T21_STRIPE_PRICE_PRO="price_123",
        T21_OPENROUTER_TIMEOUT_S="61",
        T21_GITHUB_CLIENT_SECRET="gh-secret-9",
        T21_STRIPE_WEBHOOK_SECRETS="",
    )
    assert result.exit_code == 0, result.output
    rows = _config_rows(result.output)
    assert rows["T21_STRIPE_PRICE_PRO"] == ["price_123", "set"]
    assert rows["T21_OPENROUTER_TIMEOUT_S"] == ["61.0", "set"]
    assert rows["T21_GITHUB_CLIENT_SECRET"] == ["(set,", "hidden)", "set"]
    # Nothing given: unset, not an empty value nor a secret "(set, hidden)" that isn't there.
    assert rows["T21_STRIPE_PRICE_BUSINESS"] == ["(unset)", "-"]
    assert rows["T21_STRIPE_WEBHOOK_SECRETS"] == ["(unset)", "-"]
    assert rows["T21_PREVIOUS_SECRET_KEYS"] == ["(unset)", "-"]
    assert rows["T21_GOOGLE_CLIENT_SECRET"] == ["(unset)", "-"]
    assert rows["T21_AI_MODELS"] == ["(unset)", "-"]
    # T21's own values say so, and numbers named after tokens aren't hidden.
    assert rows["T21_OPENROUTER_API_BASE"] == ["https://openrouter.ai/api/v1", "default"]
    assert rows["T21_ACCESS_TOKEN_TTL_S"] == ["900", "default"]
    assert "gh-secret-9" not in result.output


# --- real processes ----------------------------------------------------------------------------


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    kill(started)


def test_serve_in_a_fresh_directory_answers_health_and_ready(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    process = start(["serve", "--port", str(port)], cwd=tmp_path, env=clean_env())
    processes.append(process)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/health", process)
    ready = httpx.get(f"{base}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    missing = httpx.get(f"{base}/api/v1/does-not-exist", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (tmp_path / "var" / "t21.db").exists()
    assert (tmp_path / "var" / "secret_key").exists()

    output = stop(process)
    assert process.returncode == 0, output
    assert "api stopping" in output
    assert "Traceback" not in output


@pytest.mark.postgres
@pytest.mark.redis
def test_scaled_out_api_and_worker_processes_share_the_job_queue(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]], settings_factory: Any
) -> None:
    from t21.core.uow import session_scope
    from t21.notifications import service
    from t21.notifications.models import EmailStatus, OutboundEmail
    from t21.runtime import open_runtime

    assert TEST_REDIS_URL is not None
    settings = settings_factory(mail_dir=tmp_path / "mail")
    env = clean_env(
        T21_DATABASE_URL=settings.resolved_database_url,
        T21_REDIS_URL=TEST_REDIS_URL,
        T21_REDIS_PREFIX=settings.redis_prefix,
        T21_SECRET_KEY=TEST_SECRET,
        T21_MAIL_DIR=str(tmp_path / "mail"),
        T21_EMAIL_OUTBOX_INTERVAL_S="0.5",
    )
    api_port, worker_port = free_port(), free_port()
    api = start(["serve", "--no-worker", "--port", str(api_port)], cwd=tmp_path, env=env)
    worker = start(["worker", "--port", str(worker_port)], cwd=tmp_path, env=env)
    processes.extend([api, worker])
    wait_for(f"http://127.0.0.1:{api_port}/ready", api)
    wait_for(f"http://127.0.0.1:{worker_port}/ready", worker)

    async def queue_and_wait() -> OutboundEmail:
        async with open_runtime(settings, consume_jobs=False, run_loops=False) as runtime:
            async with session_scope(runtime) as session:
                email = await service.queue_email(
                    session,
                    settings,
                    to="scaled@example.com",
                    template="delivery_test",
                    context={"backend": "console", "sent_at": "now"},
                )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                async with session_scope(runtime) as session:
                    row = await session.get(OutboundEmail, email.id)
                    assert row is not None
                    if row.status is EmailStatus.SENT:
                        return row
                await asyncio.sleep(0.2)
        pytest.fail("the worker process did not deliver the email")

    sent = asyncio.run(queue_and_wait())
    assert sent.backend == "console"
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    metrics = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=5).text
    assert 't21_job_runs_total{job="notifications.deliver_email",outcome="ok"} 1.0' in metrics

    for process in (api, worker):
        output = stop(process)
        assert process.returncode == 0, output
        assert "Traceback" not in output


def test_create_user_makes_a_verified_account_that_can_sign_in(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = run(
        cli,
        "create-user",
        "--email",
        "Operator@Example.com",
        "--name",
        "Operator",
        "--password",
        "a sturdy passphrase",
    )
    assert result.exit_code == 0, result.output
    assert "Created operator@example.com" in result.output
    assert not (tmp_path / "var" / "mail").exists(), "no email is sent for an operator's account"
    again = run(
        cli,
        "create-user",
        "--email",
        "operator@example.com",
        "--name",
        "X",
        "--password",
        "another passphrase",
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
    weak = run(cli, "create-user", "--email", "b@example.com", "--name", "B", "--password", "short")
    assert weak.exit_code == 2
    assert "at least 8" in weak.output


def test_sandbox_serves_the_fakes_on_its_own(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    process = start(["sandbox", "--port", str(port)], cwd=tmp_path, env=clean_env())
    processes.append(process)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/", process)
    discovery = httpx.get(f"{base}/google/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == f"{base}/google"
    assert set(httpx.get(f"{base}/", timeout=5).json()["fakes"]) >= {"google", "github", "resend"}
    output = stop(process)
    assert process.returncode == 0, output
