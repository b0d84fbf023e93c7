"""A Python client generated from /openapi.json by openapi-python-client (a well-kept generator,
in its own environment made by `make install`: it pins an older typer than T21's) is imported and
used against T21 in-process: the document is complete enough for a generated client to work."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from t21.api import create_app
from t21.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / ".venv-clientgen" / "bin" / "openapi-python-client"
PACKAGE = "t21_generated_client"


@pytest.fixture
def generated(settings: Settings, tmp_path: Path) -> Iterator[ModuleType]:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: `make install` creates it (tools/clientgen)")
    # T21's own document: the suite's app also carries its test routes (tests/support).
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(create_app(settings, worker=False).openapi()))
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # Its ruff (in the same environment) formats what it generates.
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # Anything the generator could not read would be missing from the client.
    assert "Warning" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_python_client_signs_in_and_creates_a_brand(
    started_app: FastAPI, generated: ModuleType
) -> None:
    transport = httpx.ASGITransport(app=started_app)
    models = _module("models")
    register = _module("api.authentication.auth_register")
    login = _module("api.authentication.auth_login")
    me = _module("api.authentication.auth_me")
    create_brand = _module("api.brands.brands_create")
    list_brands = _module("api.brands.brands_list")

    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        anonymous = generated.Client(base_url="http://t")
        anonymous.set_async_httpx_client(http)
        email = f"gen-{uuid.uuid4().hex[:8]}@example.com"
        created = await register.asyncio(
            client=anonymous,
            body=models.RegisterIn(email=email, password="correct horse 42", name="Gen"),
        )
        assert isinstance(created, models.TokensOut)
        tokens = await login.asyncio(
            client=anonymous, body=models.LoginIn(email=email, password="correct horse 42")
        )
        assert isinstance(tokens, models.TokensOut)
        refused = await login.asyncio_detailed(
            client=anonymous, body=models.LoginIn(email=email, password="wrong horse 42")
        )
        assert refused.status_code == 401

        signed_in = generated.AuthenticatedClient(base_url="http://t", token=tokens.access_token)
        signed_in.set_async_httpx_client(
            httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
        )
        profile = await me.asyncio(client=signed_in)
        assert isinstance(profile, models.MeOut)
        assert profile.memberships[0].role == "owner"

        body = models.BrandIn(name="Generated Bakery", timezone="Europe/London")
        first = await create_brand.asyncio_detailed(
            client=signed_in, body=body, idempotency_key="brand-1"
        )
        again = await create_brand.asyncio_detailed(
            client=signed_in, body=body, idempotency_key="brand-1"
        )
        assert first.status_code == 201
        assert isinstance(first.parsed, models.BrandOut)
        assert isinstance(again.parsed, models.BrandOut)
        assert again.parsed.id == first.parsed.id  # the key replayed the first answer
        assert first.headers["RateLimit-Limit"]

        invalid = await create_brand.asyncio_detailed(
            client=signed_in, body=models.BrandIn(name="Bad Zone", timezone="Mars/Olympus")
        )
        assert invalid.status_code == 422
        assert isinstance(invalid.parsed, models.ValidationProblem)
        assert invalid.parsed.code == "validation_error"
        assert invalid.parsed.errors[0].loc[:2] == ["body", "timezone"]

        listed = await list_brands.asyncio(client=signed_in)
        assert [brand.name for brand in listed.items] == ["Generated Bakery"]
        await signed_in.get_async_httpx_client().aclose()
