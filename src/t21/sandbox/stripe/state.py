"""The Stripe fake's world and its wire format: the objects it holds, the events it made, how
it answers an error (Stripe's `{"error": {type, code, message, param}}`) and how it reads
Stripe's bracketed form keys."""

from __future__ import annotations

import copy
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

API_KEY = "sk_test_t21_sandbox"
WEBHOOK_SECRET = "whsec_t21_sandbox"  # noqa: S105 (the sandbox's public test secret)
# Accepted by T21 only while the sandbox is its Stripe (no T21_STRIPE_API_KEY), never in
# production: `t21.core.settings.SANDBOX_STRIPE_WEBHOOK_SECRET` is the same string.
PRICE_PRO = "price_t21_pro"
PRICE_BUSINESS = "price_t21_business"
PRICE_AMOUNTS = {PRICE_PRO: 700, PRICE_BUSINESS: 3500}
API_VERSION = "2025-09-30.clover"
PERIOD_S = 30 * 24 * 3600
RETRY_DELAYS_S = (0.2, 1.0)
WEBHOOK_PATH = "/api/v1/webhooks/stripe"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class StripeState:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    idempotency: dict[str, tuple[str, int, Any]] = field(default_factory=dict)
    secret: str = WEBHOOK_SECRET
    hold: bool = False
    delay_s: float = 0.0
    copies: int = 1
    # Where events go when no endpoint is registered: the last checkout's success_url origin.
    fallback_url: str | None = None

    def reset(self) -> None:
        fresh = StripeState()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    def event(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> Any:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": data,
        }
        self.events.append(event)
        return event

    def find_event(self, event_id: str) -> dict[str, Any] | None:
        return next((event for event in self.events if event["id"] == event_id), None)


def stripe_error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "api_error"
    body = {"error": {"type": kind, "code": code, "message": message, "param": param}}
    return JSONResponse(body, status_code=status)


def missing(kind: str, object_id: str) -> Response:
    return stripe_error(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")


def parse_form(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys (`line_items[0][price]`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in items:
        parts = re.findall(r"[^\[\]]+", key)
        if not parts:
            continue
        node: dict[str, Any] = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)  # type: ignore[no-any-return]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")
