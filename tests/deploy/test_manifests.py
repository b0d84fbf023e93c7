"""The deployment files give T21 what production needs, and production refuses to start without it.

The schemas are checked by `deploy/check` (hadolint, the Compose schema, the Kubernetes schemas);
these tests check what a schema can't: that the environment the manifests build passes T21's own
production checks, that dropping any secret they insist on is refused by name, and that probes,
ports and grace periods agree with what T21 serves.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from t21.cli import app as cli_app
from t21.core.crypto import new_key
from t21.core.errors import ConfigError
from t21.core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"

# Values of the right form for every secret a manifest asks for.
SECRET_VALUES = {
    "T21_DATABASE_URL": "postgresql://t21:pw@db.internal:5432/t21",
    "T21_REDIS_URL": "redis://redis.internal:6379/0",
    "T21_SECRET_KEY": secrets.token_urlsafe(48),
    "T21_ENCRYPTION_KEYS": f"k1:{new_key()}",
    "T21_METRICS_TOKEN": secrets.token_urlsafe(32),
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    template = spec["template"]
    containers: list[dict[str, Any]] = template["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _required_secrets(container: dict[str, Any]) -> list[str]:
    return [
        entry["valueFrom"]["secretKeyRef"]["key"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
        and not entry["valueFrom"]["secretKeyRef"].get("optional", False)
    ]


def _pod_environment(container: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    env = dict(config)
    for key in _required_secrets(container):
        env[key] = SECRET_VALUES[key]
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    return env


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("T21_") and not name.startswith("T21_TEST_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(_env_file=None)


@pytest.mark.parametrize("deployment", ["t21-api", "t21-worker"])
def test_the_cluster_manifests_give_production_what_it_needs(
    clean_environ: pytest.MonkeyPatch, deployment: str
) -> None:
    manifests = _manifests()
    config = manifests[("ConfigMap", "t21-config")]["data"]
    container = _container(manifests[("Deployment", deployment)])
    settings = _load(clean_environ, _pod_environment(container, config))
    assert settings.is_production
    assert settings.redis_url is not None
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    "missing", ["T21_SECRET_KEY", "T21_ENCRYPTION_KEYS", "T21_METRICS_TOKEN", "T21_DATABASE_URL"]
)
def test_production_refuses_to_start_without_a_secret_the_manifests_require(
    clean_environ: pytest.MonkeyPatch, missing: str
) -> None:
    manifests = _manifests()
    config = manifests[("ConfigMap", "t21-config")]["data"]
    container = _container(manifests[("Deployment", "t21-api")])
    assert missing in _required_secrets(container)
    env = _pod_environment(container, config)
    del env[missing]
    with pytest.raises(ConfigError) as refused:
        _load(clean_environ, env)
    assert missing in " ".join(refused.value.problems)


@pytest.mark.parametrize("command", [["serve", "--no-worker"], ["worker"]])
def test_the_scaled_out_commands_refuse_to_start_without_redis(
    clean_environ: pytest.MonkeyPatch, command: list[str]
) -> None:
    manifests = _manifests()
    config = manifests[("ConfigMap", "t21-config")]["data"]
    container = _container(manifests[("Deployment", "t21-api")])
    assert "T21_REDIS_URL" in _required_secrets(container)
    env = _pod_environment(container, config)
    del env["T21_REDIS_URL"]
    for name, value in env.items():
        clean_environ.setenv(name, value)
    result = CliRunner().invoke(cli_app, command)
    assert result.exit_code != 0
    assert "needs T21_REDIS_URL" in result.output or "T21_REDIS_URL is not set" in result.output


def test_every_pod_runs_the_migrated_image_as_a_non_root_user() -> None:
    manifests = _manifests()
    for key in [("Deployment", "t21-api"), ("Deployment", "t21-worker"), ("Job", "t21-migrate")]:
        pod = manifests[key]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"requests", "limits"} <= set(container["resources"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["t21"\]', dockerfile, re.M)


def test_probes_ports_and_grace_periods_agree_with_what_t21_serves() -> None:
    manifests = _manifests()
    config = manifests[("ConfigMap", "t21-config")]["data"]
    grace_s = float(config["T21_SHUTDOWN_GRACE_S"])
    for name, port_name in [("t21-api", "http"), ("t21-worker", "ops")]:
        deployment = manifests[("Deployment", name)]
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port_name}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": port_name}
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
        # T21 finishes its work within its grace, after the pre-stop pause, inside the pod's.
        assert pod["terminationGracePeriodSeconds"] > grace_s + pre_stop.get("seconds", 0) + 5
        if name == "t21-api":
            assert ports[port_name] == int(config["T21_PORT"])
        else:
            assert container["args"][container["args"].index("--port") + 1] == str(ports["ops"])
            assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"  # noqa: S104
    hpas = {
        doc["spec"]["scaleTargetRef"]["name"]
        for (kind, _), doc in manifests.items()
        if kind == "HorizontalPodAutoscaler"
    }
    assert hpas == {"t21-api", "t21-worker"}
    worker_metric = manifests[("HorizontalPodAutoscaler", "t21-worker")]["spec"]["metrics"][0]
    from t21.core import metrics

    assert worker_metric["external"]["metric"]["name"] == metrics.DUE_UNCLAIMED._name


def _compose_environment(service: dict[str, Any], provided: dict[str, str]) -> dict[str, str]:
    """A service's environment with `${VAR}`, `${VAR:-default}` and `${VAR:?error}` resolved the way
    Compose resolves them; a `:?` variable not provided raises, as `docker compose up` does."""

    def resolve(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
            if name in provided and provided[name] != "":
                return provided[name]
            if op == ":?":
                raise LookupError(f"{name}: {rest}")
            return rest if op == ":-" else ""

        return re.sub(r"\$\{([A-Z0-9_]+)(:\?|:-)?([^}]*)\}", one, value)

    return {name: resolve(str(value)) for name, value in service["environment"].items()}


COMPOSE_PROVIDED = {
    "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
    "MINIO_PASSWORD": secrets.token_urlsafe(16),
    "T21_PUBLIC_URL": "https://api.example.com",
    "T21_FRONTEND_URL": "https://app.example.com",
    "T21_SECRET_KEY": SECRET_VALUES["T21_SECRET_KEY"],
    "T21_ENCRYPTION_KEYS": SECRET_VALUES["T21_ENCRYPTION_KEYS"],
    "T21_METRICS_TOKEN": SECRET_VALUES["T21_METRICS_TOKEN"],
    "T21_SMTP_HOST": "smtp.example.com",
}


def test_the_compose_file_gives_production_what_it_needs(clean_environ: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    for name in ["api", "worker", "migrate"]:
        settings = _load(clean_environ, _compose_environment(services[name], COMPOSE_PROVIDED))
        assert settings.is_production
        assert settings.storage_url == "s3://t21-media"
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    "missing", ["T21_SECRET_KEY", "T21_ENCRYPTION_KEYS", "T21_METRICS_TOKEN", "POSTGRES_PASSWORD"]
)
def test_compose_refuses_to_start_without_a_required_value(missing: str) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    provided = {k: v for k, v in COMPOSE_PROVIDED.items() if k != missing}
    with pytest.raises(LookupError, match=missing):
        _compose_environment(compose["services"]["api"], provided)
