"""The sandbox keeps its world in a state file: a restart (a new app on the same file, on another
port) still knows the tokens it issued and the Stripe customers it created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from t21.cli import app as cli
from t21.core.settings import Settings
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from tests.support import loopback

APP_PASSWORD = "abcd-efgh-ijkl-mnop"
STRIPE_KEY = {"Authorization": "Bearer sk_test_t21"}


def _sign_in_to_bluesky(url: str) -> dict[str, Any]:
    resolved = loopback.get(
        f"{url}/bluesky/xrpc/com.atproto.identity.resolveHandle",
        params={"handle": "ada.example.com"},
    )
    assert resolved.status_code == 200, resolved.text
    response = loopback.post(
        f"{url}/bluesky/xrpc/com.atproto.server.createSession",
        json={"identifier": "ada.example.com", "password": APP_PASSWORD},
    )
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def _profile(url: str, access: str) -> httpx.Response:
    return loopback.get(
        f"{url}/bluesky/xrpc/app.bsky.actor.getProfile",
        params={"actor": "ada.example.com"},
        headers={"Authorization": f"Bearer {access}"},
    )


def test_a_restarted_sandbox_still_knows_its_tokens_and_customers(tmp_path: Path) -> None:
    state_file = tmp_path / "var" / "sandbox-state.pickle"
    with ThreadedServer(create_sandbox_app(state_path=state_file)) as first:
        session = _sign_in_to_bluesky(first.url)
        assert _profile(first.url, session["accessJwt"]).status_code == 200
        created = loopback.post(
            f"{first.url}/stripe/v1/customers",
            data={"email": "owner@example.com"},
            headers=STRIPE_KEY,
        )
        assert created.status_code == 200, created.text
        customer_id = created.json()["id"]
    assert state_file.is_file()

    with ThreadedServer(create_sandbox_app(state_path=state_file)) as second:
        assert second.port != first.port
        assert _profile(second.url, session["accessJwt"]).status_code == 200
        refreshed = loopback.post(
            f"{second.url}/bluesky/xrpc/com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {session['refreshJwt']}"},
        )
        assert refreshed.status_code == 200, refreshed.text
        customer = loopback.get(
            f"{second.url}/stripe/v1/customers/{customer_id}", headers=STRIPE_KEY
        )
        assert customer.status_code == 200, customer.text
        assert customer.json()["email"] == "owner@example.com"


def test_without_a_state_file_a_new_sandbox_starts_afresh(tmp_path: Path) -> None:
    with ThreadedServer(create_sandbox_app()) as first:
        session = _sign_in_to_bluesky(first.url)
    with ThreadedServer(create_sandbox_app()) as second:
        assert _profile(second.url, session["accessJwt"]).status_code == 401
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_state_file_starts_the_sandbox_afresh(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.pickle"
    state_file.write_bytes(b"not a sandbox state")
    with ThreadedServer(create_sandbox_app(state_path=state_file)) as server:
        assert _profile(server.url, "unknown").status_code == 401
        _sign_in_to_bluesky(server.url)
    assert state_file.read_bytes() != b"not a sandbox state"


def test_the_sandbox_port_is_stable_beside_t21s_and_its_state_beside_the_database(
    settings_factory: Any, tmp_path: Path
) -> None:
    settings: Settings = settings_factory(port=8000)
    assert settings.resolved_sandbox_port == 8025
    assert settings.resolved_sandbox_state_file == tmp_path / "var" / "sandbox-state.pickle"
    assert settings_factory(port=8000, sandbox_port=9100).resolved_sandbox_port == 9100
    assert settings_factory(port=0).resolved_sandbox_port == 0


def test_t21_config_shows_the_sandboxs_address_and_state_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("T21_DATA_DIR", str(tmp_path / "var"))
    shown = CliRunner().invoke(cli, ["config"], terminal_width=400)
    assert shown.exit_code == 0, shown.output
    assert "Sandbox: http://127.0.0.1:8025, state in " in shown.output
    assert "sandbox-state.pickle" in shown.output
    monkeypatch.setenv("T21_SANDBOX_URL", "http://127.0.0.1:9999")
    elsewhere = CliRunner().invoke(cli, ["config"], terminal_width=400)
    assert "Sandbox: http://127.0.0.1:9999 (T21_SANDBOX_URL, run on its own)" in elsewhere.output
    monkeypatch.setenv("T21_SANDBOX", "off")
    off = CliRunner().invoke(cli, ["config"], terminal_width=400)
    assert "Sandbox: off" in off.output
