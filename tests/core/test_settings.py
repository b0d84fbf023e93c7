"""Settings: safe embedded defaults, clear errors naming the setting, production refusals."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from t21.core.errors import ConfigError
from t21.core.settings import EmailBackendName, Settings, load_settings
from t21.platforms import registry

STRONG = "s" * 48


def make(**values: Any) -> Settings:
    return load_settings(_env_file=None, **values)


def test_defaults_run_the_embedded_mode() -> None:
    settings = make()
    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/t21.db"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.email_backend is EmailBackendName.CONSOLE
    assert settings.resolved_media_dir == Path("var/media")
    assert settings.resolved_mail_dir == Path("var/mail")
    assert settings.resolved_public_url == "http://127.0.0.1:8000"
    assert settings.resolved_frontend_url == settings.resolved_public_url


def test_variables_with_the_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T21_PORT", "9100")
    monkeypatch.setenv("T21_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("T21_DATABASE_URL", "postgres://u:p@db:5432/t21")
    monkeypatch.setenv("T21_PUBLIC_URL", "https://api.example.com/")
    settings = make()
    assert settings.port == 9100
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.resolved_database_url == "postgresql+asyncpg://u:p@db:5432/t21"
    assert settings.resolved_public_url == "https://api.example.com"
    assert settings.resolved_frontend_url == "https://api.example.com"


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("T21_PORT=9200\nT21_LOG_LEVEL=DEBUG\n")
    settings = load_settings(_env_file=env_file)
    assert settings.port == 9200
    assert settings.log_level == "DEBUG"


def test_a_changed_variable_is_read_by_the_next_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T21_PORT", "9100")
    monkeypatch.setenv("T21_CORS_ORIGINS", "https://a.example")
    monkeypatch.setenv("T21_PLAN_LIMITS", '{"free": {"brands": 2}}')
    monkeypatch.setenv("T21_TWITTER_CLIENT_ID", "first")
    first = make()
    monkeypatch.setenv("T21_PORT", "9101")
    monkeypatch.setenv("T21_CORS_ORIGINS", "https://b.example, https://c.example")
    monkeypatch.setenv("T21_PLAN_LIMITS", '{"pro": {"seats": 9}}')
    monkeypatch.setenv("T21_TWITTER_CLIENT_ID", "second")
    second = make()
    monkeypatch.delenv("T21_PORT")
    monkeypatch.delenv("T21_TWITTER_CLIENT_ID")
    third = make()

    assert (first.port, first.cors_origins) == (9100, ["https://a.example"])
    assert first.plan_limits == {"free": {"brands": 2}}
    assert first.network("twitter").client_id == "first"
    assert (second.port, second.cors_origins) == (9101, ["https://b.example", "https://c.example"])
    assert second.plan_limits == {"pro": {"seats": 9}}
    assert second.network("twitter").client_id == "second"
    assert third.port == 8000
    assert third.network("twitter").client_id is None


def test_a_changed_env_file_is_read_by_the_next_load(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("T21_PORT=9200\nT21_TWITTER_CLIENT_ID=from-file\n")
    first = load_settings(_env_file=env_file)
    env_file.write_text("T21_PORT=9201\nT21_AI_MODELS=a/one,b/two\n")
    second = load_settings(_env_file=env_file)
    env_file.unlink()
    third = load_settings(_env_file=env_file)

    assert (first.port, first.network("twitter").client_id) == (9200, "from-file")
    assert (second.port, second.network("twitter").client_id) == (9201, None)
    assert second.ai_models == ["a/one", "b/two"]
    assert (third.port, third.ai_models) == (8000, [])


def test_keywords_win_over_variables_and_the_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("T21_PORT=9200\nT21_LOG_LEVEL=DEBUG\nT21_TWITTER_CLIENT_ID=file\n")
    monkeypatch.setenv("T21_PORT", "9100")
    monkeypatch.setenv("T21_TWITTER_API_BASE", "https://env.example")
    settings = load_settings(
        _env_file=env_file, port=9300, twitter_client_id="kw", twitter_api_base=None
    )
    assert (settings.port, settings.log_level) == (9300, "DEBUG")
    assert settings.network("twitter").client_id == "kw"
    assert settings.network("twitter").api_base is None
    # The environment wins over the file, each network's prefix its own.
    assert load_settings(_env_file=env_file).port == 9100
    assert load_settings(_env_file=env_file).network("twitter").api_base == ("https://env.example")


def test_sqlite_urls_use_the_async_driver() -> None:
    assert make(database_url="sqlite:///tmp/x.db").resolved_database_url == (
        "sqlite+aiosqlite:///tmp/x.db"
    )


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("port", "not-a-port", "T21_PORT"),
        ("port", "70000", "T21_PORT"),
        ("database_url", "mysql://x/y", "T21_DATABASE_URL"),
        ("redis_url", "http://localhost", "T21_REDIS_URL"),
        ("public_url", "ftp://x", "T21_PUBLIC_URL"),
        ("email_backend", "pigeon", "T21_EMAIL_BACKEND"),
        ("rate_limit_per_ip", "lots", "T21_RATE_LIMIT_PER_IP"),
    ],
)
def test_a_bad_value_names_its_setting(field: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(**{field: value})
    assert any(problem.startswith(named) for problem in caught.value.problems)


def test_bad_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        make(database_url="mysql://user:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


def test_production_refuses_the_laptop_defaults() -> None:
    with pytest.raises(ConfigError) as caught:
        make(env="production")
    text = " ".join(caught.value.problems)
    assert "T21_SECRET_KEY is not set" in text
    assert "T21_DATABASE_URL is SQLite" in text
    assert "T21_EMAIL_BACKEND is console" in text


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-random-9f8"])
def test_production_refuses_a_default_or_short_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="T21_SECRET_KEY is a default or too short"):
        make(
            env="production",
            secret_key=secret,
            database_url="postgresql://db/t21",
            email_backend="smtp",
            smtp_host="mail.example.com",
        )


def test_production_needs_the_chosen_email_backend_configured() -> None:
    with pytest.raises(ConfigError, match="T21_RESEND_API_KEY is not set"):
        make(
            env="production",
            secret_key=STRONG,
            database_url="postgresql://db/t21",
            email_backend="resend",
        )


def test_production_starts_with_real_settings() -> None:
    settings = make(
        env="production",
        secret_key=STRONG,
        database_url="postgresql://db/t21",
        email_backend="resend",
        resend_api_key="re_live_123",
        encryption_keys="k1:" + "A" * 43,
        metrics_token="m" * 40,
    )
    assert settings.is_production
    assert not settings.sandbox_enabled


def test_production_needs_encryption_keys_and_no_sandbox() -> None:
    with pytest.raises(ConfigError) as caught:
        make(
            env="production",
            secret_key=STRONG,
            database_url="postgresql://db/t21",
            email_backend="resend",
            resend_api_key="re_live_123",
            sandbox="on",
        )
    text = " ".join(caught.value.problems)
    assert "T21_ENCRYPTION_KEYS is not set" in text
    assert "T21_SANDBOX is on" in text


@pytest.mark.parametrize(
    "keys", ["nocolon", "k1:notbase64!!!", "k1:" + "A" * 10, "bad-id:" + "A" * 43, ","]
)
def test_malformed_encryption_keys_are_refused(keys: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(encryption_keys=keys)
    assert caught.value.problems[0].startswith("T21_ENCRYPTION_KEYS")
    assert "A" * 10 not in str(caught.value)


def test_generated_secret_is_kept_private_and_stable(tmp_path: Path) -> None:
    settings = make(data_dir=tmp_path / "var")
    first = settings.secret()
    assert len(first) >= 48
    assert make(data_dir=tmp_path / "var").secret() == first
    mode = (tmp_path / "var" / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_configured_secret_wins_over_the_generated_one(tmp_path: Path) -> None:
    assert make(data_dir=tmp_path, secret_key=STRONG).secret() == STRONG
    assert not (tmp_path / "secret_key").exists()


def test_implicit_tls_turns_off_starttls() -> None:
    settings = make(smtp_tls=True)
    assert settings.smtp_tls
    assert not settings.smtp_starttls


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").startswith("T21_")
    }
    expected = {f"T21_{name.upper()}" for name in Settings.model_fields} | {
        f"{network.env_prefix}{name.upper()}"
        for network in registry.NETWORKS
        for name in registry.settings_model(network.name).model_fields
    }
    assert expected - documented == set(), "settings missing from .env.example"
    assert documented - expected == set(), ".env.example names settings that don't exist"


PRODUCTION_READY: dict[str, Any] = {
    "env": "production",
    "secret_key": STRONG,
    "database_url": "postgresql://db/t21",
    "email_backend": "resend",
    "resend_api_key": "re_live_123",
    "encryption_keys": "k1:" + "A" * 43,
    "metrics_token": "m" * 40,
}


@pytest.mark.parametrize("token", [None, ""])
def test_production_refuses_to_start_without_a_metrics_token(token: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        make(**(PRODUCTION_READY | {"metrics_token": token}))
    assert caught.value.problems == [
        "T21_ENV=production refuses to start: T21_METRICS_TOKEN is not set (GET /metrics would "
        "be open to anyone; set a random bearer token for the scraper)"
    ]


def test_production_refuses_the_sandboxs_public_stripe_webhook_secret() -> None:
    with pytest.raises(ConfigError, match="holds the sandbox's public secret"):
        make(
            **PRODUCTION_READY,
            stripe_api_key="sk_live_123",
            stripe_webhook_secrets="whsec_real_one,whsec_t21_sandbox",
        )
    make(**PRODUCTION_READY, stripe_api_key="sk_live_123", stripe_webhook_secrets="whsec_real")
