"""Logs: structured, carrying the request id, and never carrying a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from t21.core.logging import configure_logging, get_logger, redact_text
from t21.core.settings import load_settings
from tests.conftest import TEST_SECRET


@pytest.mark.parametrize(
    ("raw", "leak"),
    [
        ("Authorization: Bearer abc.def.ghi-123", "abc.def.ghi-123"),
        ("key t21_AbCdEfGh12345678", "AbCdEfGh12345678"),
        ("postgresql://t21:hunter2@db:5432/t21", "hunter2"),
        ("GET /cb?code=4/0AbC&state=xyz123&page=2", "4/0AbC"),
        ("/oauth/access_token?client_id=1&client_secret=s3cr3t-app", "s3cr3t-app"),
        ("?grant_type=fb_exchange_token&fb_exchange_token=EAAGshort", "EAAGshort"),
        ("/debug_token?input_token=EAAGpage&access_token=app", "EAAGpage"),
        ("stripe sk_live_51HxYzAbCdEf", "51HxYzAbCdEf"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1", "eyJzdWIiOiIxIn0"),
    ],
)
def test_secret_shapes_are_redacted_from_text(raw: str, leak: str) -> None:
    assert leak not in redact_text(raw)


def test_harmless_text_is_left_alone() -> None:
    text = "published post 42 to twitter in 120 ms (page=2)"
    assert redact_text(text) == text


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    configure_logging(
        load_settings(_env_file=None, env="test", secret_key=TEST_SECRET, log_format="json")
    )
    yield capsys
    configure_logging(load_settings(_env_file=None, env="test", secret_key=TEST_SECRET))


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_production_logs_are_json_with_secrets_redacted_by_key_and_shape(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    get_logger("t21.test").info(
        "connected",
        password="hunter2",
        refresh_token="rt-123456",
        token_expires_at="2026-01-01",
        headers={"Authorization": "Bearer live-token-xyz", "Accept": "json"},
        url="https://user:pw1234@example.com/x?access_token=tok987",
    )
    [line] = [entry for entry in _lines(json_logs) if entry.get("event") == "connected"]
    text = json.dumps(line)
    for leak in ("hunter2", "rt-123456", "live-token-xyz", "pw1234", "tok987"):
        assert leak not in text
    assert line["token_expires_at"] == "2026-01-01"
    assert line["level"] == "info"
    assert line["logger"] == "t21.test"
    assert "timestamp" in line


def test_standard_library_logs_go_through_the_same_redaction(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("some.library").warning("retrying with Bearer %s", "lib-secret-token")
    entries = [entry for entry in _lines(json_logs) if entry.get("logger") == "some.library"]
    assert entries
    assert "lib-secret-token" not in json.dumps(entries)


def test_exception_tracebacks_are_redacted(json_logs: pytest.CaptureFixture[str]) -> None:
    try:
        raise ConnectionError("could not reach postgresql://app:s3cret-pass@db/t21")
    except ConnectionError:
        get_logger("t21.test").exception("database down")
    [line] = [entry for entry in _lines(json_logs) if entry.get("event") == "database down"]
    assert "ConnectionError" in str(line["exception"])
    assert "s3cret-pass" not in json.dumps(line)


async def test_every_request_log_line_carries_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="t21.http"):
        response = await client.get(
            "/api/v1/_test/conflict?token=query-secret", headers={"X-Request-ID": "req-42"}
        )
    assert response.status_code == 409
    [record] = [r for r in caplog.records if r.name == "t21.http"]
    event = record.msg
    assert isinstance(event, dict)
    assert event["request_id"] == "req-42"
    assert event["route"] == "/api/v1/_test/conflict"
    assert event["status"] == 409
    # The access log records the path, never the query string.
    assert "query-secret" not in str(event)
    assert structlog.contextvars.get_contextvars().get("request_id") is None


def test_production_logs_json_and_development_logs_readable_lines_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    production = load_settings(
        _env_file=None,
        env="production",
        secret_key="p" * 48,
        database_url="postgresql://db/t21",
        email_backend="resend",
        resend_api_key="re_live_123",
        encryption_keys="k1:" + "A" * 43,
        metrics_token="m" * 40,
    )
    development = load_settings(_env_file=None, env="development", secret_key=TEST_SECRET)
    assert production.log_format == development.log_format == "auto"
    try:
        configure_logging(production)
        get_logger("t21.test").info("published", post_id=42)
        [line] = [e for e in _lines(capsys) if e.get("event") == "published"]
        assert line["post_id"] == 42
        configure_logging(development)
        get_logger("t21.test").info("published", post_id=43)
        [readable] = [x for x in capsys.readouterr().err.splitlines() if "published" in x]
        assert not readable.startswith("{")
        assert "post_id=43" in readable
    finally:
        configure_logging(load_settings(_env_file=None, env="test", secret_key=TEST_SECRET))
