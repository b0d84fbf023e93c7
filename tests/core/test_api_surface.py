"""The API as a front end and a generated client see it: offline docs, the OpenAPI document
(operation ids, headers, error schemas, examples), CORS and OPTIONS."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from t21.api import create_app
from t21.core.settings import Environment, Settings
from tests.core.test_http import assert_problem
from tests.support.serving import serving

OUTSIDE_URL = re.compile(r"(https?:)?//(?!t21\.app/)[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


class _Assets(HTMLParser):
    """The scripts, stylesheets and icons a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


@pytest.mark.parametrize(
    ("page", "needs"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
async def test_the_docs_pages_load_every_asset_from_t21_itself(
    client: httpx.AsyncClient, page: str, needs: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert not OUTSIDE_URL.search(response.text), OUTSIDE_URL.search(response.text)
    parser = _Assets()
    parser.feed(response.text)
    assert {url.rsplit("/", 1)[-1] for url in parser.urls} >= needs
    for url in parser.urls:
        assert url.startswith("/docs/assets/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    script = next(url for url in parser.urls if url.endswith(".js"))
    assert "javascript" in (await client.get(script)).headers["content-type"]


async def test_turning_the_docs_off_removes_their_assets_too(app_factory: Any) -> None:
    async with serving(app_factory(api_docs=False)) as http:
        for path in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
            assert (await http.get(path)).status_code == 404, path


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if not path.startswith("/api/v1/_test/")
    }


async def test_every_operation_has_a_short_unique_operation_id(client: httpx.AsyncClient) -> None:
    operations = _operations(await _document(client))
    ids = [operation["operationId"] for operation in operations.values()]
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    assert not duplicates
    for name in ids:
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,50}", name), name
        assert "api_v1" not in name, name
    pinned = {
        ("POST", "/api/v1/auth/register"): "auth_register",
        ("POST", "/api/v1/auth/login"): "auth_login",
        ("GET", "/api/v1/auth/me"): "auth_me",
        ("POST", "/api/v1/brands"): "brands_create",
        ("GET", "/api/v1/brands/{brand_id}"): "brands_get",
        ("POST", "/api/v1/posts"): "posts_create",
        ("GET", "/api/v1/posts"): "posts_list",
        ("POST", "/api/v1/posts/{post_id}/publish"): "posts_publish",
        ("GET", "/api/v1/social-accounts"): "social_accounts_list",
        ("POST", "/api/v1/ai/generate-content"): "ai_generate_content",
        ("GET", "/health"): "ops_health",
    }
    for key, name in pinned.items():
        assert operations[key]["operationId"] == name, key


async def test_creating_posts_document_the_idempotency_key(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    operations = _operations(document)
    parameter = document["components"]["parameters"]["IdempotencyKey"]
    assert parameter["name"] == "Idempotency-Key"
    assert parameter["in"] == "header"
    ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    for key in [("POST", "/api/v1/posts"), ("POST", "/api/v1/brands"), ("POST", "/api/v1/media")]:
        assert ref in operations[key]["parameters"], key
    # Token bodies are never stored for replay: register and login don't honour the key.
    assert ref not in operations[("POST", "/api/v1/auth/register")].get("parameters", [])
    assert ref not in operations[("GET", "/api/v1/posts")].get("parameters", [])


async def test_rate_limit_headers_and_retry_after_are_documented(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} <= set(
        document["components"]["headers"]
    )
    listed = _operations(document)[("GET", "/api/v1/posts")]["responses"]
    assert set(listed["200"]["headers"]) >= {
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "X-Request-ID",
    }
    assert "Retry-After" in listed["429"]["headers"]
    assert listed["429"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    # Probes are not metered, so they promise no rate-limit headers.
    assert "429" not in _operations(document)[("GET", "/health")]["responses"]


async def test_error_responses_carry_their_real_schemas(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]
    entry = schemas["ProblemDetail"]["properties"]
    assert {"loc", "msg", "rule", "target", "platform"} <= set(entry)
    assert {"limit", "used", "allowed", "tier"} <= set(schemas["PaymentProblem"]["properties"])
    assert "target_ids" in schemas["ConflictProblem"]["properties"]
    operations = _operations(document)

    def schema_of(key: tuple[str, str], status: str) -> str:
        content = operations[key]["responses"][status]["content"]
        assert set(content) == {"application/problem+json"}
        return str(content["application/problem+json"]["schema"]["$ref"]).rsplit("/", 1)[-1]

    create_post = ("POST", "/api/v1/posts")
    assert schema_of(create_post, "422") == "ValidationProblem"
    assert schema_of(create_post, "409") == "ConflictProblem"
    assert schema_of(create_post, "401") == "Problem"
    assert schema_of(create_post, "4XX") == "Problem"
    assert schema_of(("POST", "/api/v1/brands"), "402") == "PaymentProblem"
    assert schema_of(("POST", "/api/v1/ai/generate-content"), "402") == "PaymentProblem"
    # Sign-in needs no credentials, so it promises no 401 for missing ones.
    assert "401" not in operations[("POST", "/api/v1/auth/login")]["responses"]


async def test_the_documented_problem_schemas_match_real_answers(
    client: httpx.AsyncClient,
) -> None:
    """A 422 and a 402 as T21 sends them hold the fields the document promises."""
    document = await _document(client)
    schemas = document["components"]["schemas"]
    refused = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": "x", "name": ""}
    )
    problem = assert_problem(refused, 422, "validation_error")
    assert set(problem) <= set(schemas["ValidationProblem"]["properties"])
    for error in problem["errors"]:
        assert set(error) <= set(schemas["ProblemDetail"]["properties"])


async def test_the_main_requests_carry_examples(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]
    for name, required in [
        ("RegisterIn", {"email", "password", "name"}),
        ("LoginIn", {"email", "password"}),
        ("BrandIn", {"name"}),
        ("PostIn", {"brand_id", "targets"}),
    ]:
        (example,) = schemas[name]["examples"]
        assert required <= set(example), name
        assert set(example) <= set(schemas[name]["properties"]), name


async def test_the_examples_are_accepted_by_the_api(client: httpx.AsyncClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    (register,) = schemas["RegisterIn"]["examples"]
    created = await client.post("/api/v1/auth/register", json=register)
    assert created.status_code == 201, created.text
    (login,) = schemas["LoginIn"]["examples"]
    signed_in = await client.post("/api/v1/auth/login", json=login)
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    (brand,) = schemas["BrandIn"]["examples"]
    made = await client.post("/api/v1/brands", json=brand, headers=headers)
    assert made.status_code == 201, made.text


PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
}


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://localhost"]
)
async def test_local_front_ends_may_call_the_api_in_development(
    app_factory: Any, origin: str
) -> None:
    async with serving(app_factory(env="development")) as http:
        preflight = await http.options("/api/v1/posts", headers={"Origin": origin, **PREFLIGHT})
        simple = await http.get("/health", headers={"Origin": origin})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    assert simple.headers["access-control-allow-origin"] == origin
    assert "RateLimit-Remaining" in simple.headers["access-control-expose-headers"]


async def test_other_origins_get_a_clear_refusal_in_development(app_factory: Any) -> None:
    async with serving(app_factory(env="development")) as http:
        for origin in (
            "http://localhost.evil.example",
            "https://example.com",
            "http://10.0.0.5:80",
        ):
            refused = await http.options("/api/v1/posts", headers={"Origin": origin, **PREFLIGHT})
            problem = assert_problem(refused, 400, "bad_request")
            assert "origin" in problem["detail"]
            assert "access-control-allow-origin" not in refused.headers
            simple = await http.get("/health", headers={"Origin": origin})
            assert "access-control-allow-origin" not in simple.headers


async def test_production_allows_only_the_configured_origins(settings_factory: Any) -> None:
    # Production refuses to start on the suite's SQLite; CORS is decided when the app is
    # built, and preflights are answered before anything touches the runtime.
    base: Settings = settings_factory(cors_origins="https://app.example.com")
    settings = base.model_copy(update={"env": Environment.PRODUCTION})
    app = create_app(settings, worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        allowed = await http.options(
            "/api/v1/posts", headers={"Origin": "https://app.example.com", **PREFLIGHT}
        )
        local = await http.options(
            "/api/v1/posts", headers={"Origin": "http://localhost:5173", **PREFLIGHT}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert_problem(local, 400, "bad_request")
    assert "access-control-allow-origin" not in local.headers


async def test_options_lists_every_method_of_the_resource(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/posts")
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    one = await client.options("/api/v1/posts/0193a1b2-0000-7000-8000-000000000000")
    assert set(one.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}


async def test_a_wrong_method_names_every_allowed_one(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/posts")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    missing = await client.options("/api/v1/no-such-thing")
    assert_problem(missing, 404, "not_found")
