"""The OpenAPI document as a generated client needs it, shaped in one place.

- Every operation has a short, stable, unique id: its router's tag, then its route's name without
  the tag's own noun (`posts` + `create_post` → `posts_create`, `authentication` + `register` →
  `auth_register`). Renaming a route function renames its operation: tests pin the main ones.
- `Idempotency-Key` is a documented header of every POST that honours it (`core.routing`).
- Every rate-limited response documents `RateLimit-Limit`, `RateLimit-Remaining`,
  `RateLimit-Reset` and `X-Request-ID`; a 429 documents `Retry-After`.
- Errors carry their real schemas: 422 `ValidationProblem` (entries with `loc`, `rule`,
  `target`, `platform`), 402 `PaymentProblem` (`limit`, `used`, `allowed`, `tier`), 409
  `ConflictProblem` (`target_ids`), 401 and 429 as plain problems; every other 4xx and 5xx is a
  `Problem` (`core.problems`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from t21.core.idempotency import MAX_KEY_LENGTH
from t21.core.problems import (
    PROBLEM_CONTENT_TYPE,
    ConflictProblem,
    PaymentProblem,
    Problem,
    ValidationProblem,
)
from t21.core.ratelimit import EXEMPT_PATHS

# Tags whose operation-id prefix is shorter than the tag.
TAG_PREFIXES = {"authentication": "auth", "operations": "ops"}
# Operations that count against a plan limit or need a tier: they may answer 402.
PAYMENT_OPERATIONS = frozenset(
    {
        "brands_create",
        "organizations_invite",
        "social_accounts_start_connection",
        "social_accounts_complete_connection",
        "ai_generate_content",
        "ai_suggest_hashtags",
        "ai_improve_content",
    }
)
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
IDEMPOTENCY_PARAMETER = "IdempotencyKey"
_SCHEMA_REF = "#/components/schemas/{model}"


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_").lower()


def operation_id(route: APIRoute) -> str:
    """`<tag prefix>_<route name less the tag's noun>`: `posts_create`, `auth_register`."""
    name = _slug(route.name)
    if not route.tags:
        return name
    tag = str(route.tags[0])
    prefix = TAG_PREFIXES.get(tag, _slug(tag))
    nouns = set()
    for word in _slug(tag).split("_"):
        nouns.update({word, word.removesuffix("s")})
    rest = [word for word in name.split("_") if word not in nouns]
    return f"{prefix}_{'_'.join(rest or [name])}"


def _header(description: str, *, example: Any = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    if example is not None:
        schema["examples"] = [example]
    return {"description": description, "schema": schema}


HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Limit": _header(
        "Requests allowed in the window of the tightest limit met.", example=600
    ),
    "RateLimit-Remaining": _header("Requests left in that window.", example=599),
    "RateLimit-Reset": _header("Seconds until that window frees capacity.", example=42),
    "Retry-After": _header("Seconds to wait before retrying.", example=42),
    "X-Request-ID": {
        "description": "The request's id (the one sent, or a generated one); in every log line.",
        "schema": {"type": "string"},
    },
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _problem(model: type[BaseModel], description: str, headers: tuple[str, ...] = ()) -> Any:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }
    if headers:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    return response


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for response in responses.values():
        content = response.get("content", {}) if isinstance(response, dict) else {}
        if PROBLEM_CONTENT_TYPE in content and "application/json" in content:
            # A problem is sent as application/problem+json only: say so, with its schema.
            content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    metered = path not in EXEMPT_PATHS
    if metered:
        for status, response in responses.items():
            if status.startswith(("2", "3")) and isinstance(response, dict):
                headers = response.setdefault("headers", {})
                for name in (*RATE_LIMIT_HEADERS, "X-Request-ID"):
                    headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
        responses.setdefault(
            "429",
            _problem(
                Problem, "Too many requests (`rate_limited`).", ("Retry-After", *RATE_LIMIT_HEADERS)
            ),
        )
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault(
            "422", _problem(ValidationProblem, "Invalid fields (`validation_error`), in `errors`.")
        )
    if operation.get("security"):  # the operations that need a bearer token or an API key
        responses.setdefault(
            "401", _problem(Problem, "No or invalid credentials (`not_authenticated`).")
        )
    if method in WRITE_METHODS and path.startswith("/api/"):
        responses.setdefault(
            "409", _problem(ConflictProblem, "A conflict of state, or of an `Idempotency-Key`.")
        )
    if operation.get("operationId") in PAYMENT_OPERATIONS:
        responses.setdefault(
            "402",
            _problem(
                PaymentProblem, "A plan limit is reached (`quota_exceeded`) or the tier lacks it."
            ),
        )
    if operation.pop("x-idempotent", False):
        operation.setdefault("parameters", []).append(
            {"$ref": f"#/components/parameters/{IDEMPOTENCY_PARAMETER}"}
        )
        operation["x-idempotent"] = True


def enrich(document: dict[str, Any]) -> dict[str, Any]:
    """Add the headers, error schemas and idempotency parameter to FastAPI's document."""
    components = document.setdefault("components", {})
    _, definitions = models_json_schema(
        [
            (model, "serialization")
            for model in (Problem, ValidationProblem, PaymentProblem, ConflictProblem)
        ],
        ref_template=_SCHEMA_REF,
    )
    schemas = components.setdefault("schemas", {})
    for name, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    components.setdefault("headers", {}).update(HEADERS)
    components.setdefault("parameters", {})[IDEMPOTENCY_PARAMETER] = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": (
            "Makes a retry safe: the same key with the same body within 24 h replays the first "
            "response; with another body it answers 409 `idempotency_conflict`."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and method in {"get", *WRITE_METHODS}:
                _document_operation(path, method, operation)
    return document


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and `/openapi.json`) answer the enriched document."""
    build: Callable[[], dict[str, Any]] = app.openapi
    enriched: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI rebuilds its document when routes are added; each new one is enriched once.
        document = build()
        if not enriched or enriched[0] is not document:
            enriched[:] = [enrich(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
