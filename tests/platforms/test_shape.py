"""Every network has the same shape: one registry entry naming its provider, its settings model
(read from `T21_<NET>_…`) and its fake, which the sandbox mounts; nothing outside its two
packages knows it by name; `.env.example` documents its settings."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from t21.core.errors import ConfigError
from t21.core.settings import load_settings
from t21.platforms import registry
from t21.platforms.base import Provider
from t21.platforms.settings import NetworkSettings
from t21.sandbox.app import FAKES, create_sandbox_app

ROOT = Path(__file__).parents[2]
SOURCE = ROOT / "src" / "t21"
# The two packages a network lives in; tests and docs may name networks freely.
ITS_OWN = ("platforms", "sandbox")


@pytest.mark.parametrize("network", registry.NETWORKS, ids=lambda network: network.name)
def test_a_registry_entry_names_the_provider_settings_and_fake_of_its_network(
    network: registry.Network,
) -> None:
    provider = registry.provider_class(network.name)
    assert provider.name == network.name
    model = registry.settings_model(network.name)
    assert issubclass(model, NetworkSettings)
    assert model.__module__ == f"t21.platforms.{network.name}.settings"
    assert model.real_auth_base.startswith("https://")
    assert model.real_api_base.startswith("https://")
    assert network.fake == f"t21.sandbox.{network.name}:create_{network.name}_app"
    assert network.name in FAKES


@pytest.mark.parametrize("network", registry.NETWORKS, ids=lambda network: network.name)
def test_every_provider_has_every_member_of_the_protocol(network: registry.Network) -> None:
    """The engine reads each member of `Provider` of every network: one a network lacks would
    fail only when it is first used (a doubtful publish, a reconciliation)."""
    provider = registry.provider_class(network.name)
    members = {
        name for name in vars(Provider) if not name.startswith("_") or name == "__init__"
    } | set(getattr(Provider, "__annotations__", {}))
    missing = sorted(name for name in members if not hasattr(provider, name))
    assert not missing, f"{network.name} lacks {missing}"


def test_nothing_outside_the_network_packages_names_a_network() -> None:
    quoted = re.compile("|".join(f"[\"']{re.escape(name)}[\"']" for name in registry.names()))
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(SOURCE.rglob("*.py"))
        if path.relative_to(SOURCE).parts[0] not in ITS_OWN
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if quoted.search(line)
    ]
    assert found == [], "a network's quoted name outside platforms/ and sandbox/: " + "; ".join(
        found
    )


def _documented() -> set[str]:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    return {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").startswith("T21_")
    }


@pytest.mark.parametrize("network", registry.NETWORKS, ids=lambda network: network.name)
def test_env_example_has_exactly_the_settings_of_each_network(
    network: registry.Network,
) -> None:
    expected = {
        f"{network.env_prefix}{name.upper()}"
        for name in registry.settings_model(network.name).model_fields
    }
    # A variable is the network's with the longest prefix it starts with (T21_LINKEDIN_PAGE_…
    # belongs to linkedin_page, not to linkedin).
    longer = [
        n.env_prefix for n in registry.NETWORKS if len(n.env_prefix) > len(network.env_prefix)
    ]
    documented = {
        name
        for name in _documented()
        if name.startswith(network.env_prefix) and not name.startswith(tuple(longer))
    }
    assert expected - documented == set(), "missing from .env.example"
    assert documented - expected == set(), ".env.example names settings the network hasn't"


def test_network_settings_are_read_from_their_variables_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T21_LINKEDIN_CLIENT_ID", "linkedin-app")
    monkeypatch.setenv("T21_LINKEDIN_CLIENT_SECRET", "linkedin-secret")
    monkeypatch.setenv("T21_LINKEDIN_SCOPES", "openid, profile w_member_social")
    monkeypatch.setenv("T21_FACEBOOK_UPLOAD_BASE", "https://video.example/")
    settings = load_settings(_env_file=None)

    linkedin = registry.platform_config(settings, "linkedin", None)
    assert linkedin is not None
    assert (linkedin.client_id, linkedin.client_secret) == ("linkedin-app", "linkedin-secret")
    assert linkedin.auth_base == "https://www.linkedin.com"
    assert linkedin.api_base == "https://api.linkedin.com"
    assert linkedin.scopes == ("openid", "profile", "w_member_social")
    assert "linkedin-secret" not in repr(settings.network("linkedin"))

    # Without a client id: the sandbox's fake, with the configured upload host kept.
    facebook = registry.platform_config(settings, "facebook", "http://127.0.0.1:9")
    assert facebook is not None
    assert facebook.sandbox
    assert facebook.api_base == "http://127.0.0.1:9/facebook"
    assert facebook.upload_base == "https://video.example"


def test_a_keyword_overrides_a_network_setting_like_any_other(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("T21_TWITTER_CLIENT_ID=from-file\nT21_TIKTOK_CLIENT_ID=tt\n")
    settings = load_settings(_env_file=tmp_path / ".env", twitter_client_id="from-keyword")
    assert settings.network("twitter").client_id == "from-keyword"
    assert settings.network("tiktok").client_id == "tt"
    real = registry.platform_config(settings, "facebook", None)
    assert real is None  # neither configured nor a sandbox to fall back on


def test_a_bad_network_setting_is_named_with_its_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None, instagram_api_base="graph.instagram.com", port=-1)
    assert "T21_INSTAGRAM_API_BASE: must be an absolute http:// or https:// URL" in str(
        refused.value
    )
    assert "T21_PORT" in str(refused.value)
    with pytest.raises(LookupError):
        load_settings(_env_file=None).network("myspace")


async def test_the_sandbox_mounts_the_fake_of_every_registered_network() -> None:
    transport = httpx.ASGITransport(app=create_sandbox_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        index = (await client.get("/")).json()
        assert set(registry.names()) <= set(index["fakes"])
        for name in registry.names():
            control = await client.get(f"/{name}/_control/requests")
            assert control.status_code == 200, name
