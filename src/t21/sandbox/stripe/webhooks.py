"""The Stripe fake's events going out: signed like Stripe's (`Stripe-Signature:
t=…,v1=HMAC-SHA256(secret, "t.body")`), sent to every registered endpoint (else to T21's webhook
path at the origin of the last checkout's `success_url`), a non-2xx answer retried twice; held,
delayed or copied as `/_control/webhooks` says."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from t21.core.tls import tls_context
from t21.sandbox.stripe.state import RETRY_DELAYS_S, StripeState


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, as Stripe signs its webhooks."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={digest.hexdigest()}"


class WebhookSender:
    """Makes the fake's events and delivers them."""

    def __init__(self, state: StripeState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def targets(self) -> list[str]:
        urls = [endpoint["url"] for endpoint in self.state.endpoints.values()]
        if not urls and self.state.fallback_url is not None:
            urls = [self.state.fallback_url]
        return urls

    def emit(self, kind: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        event = self.state.event(kind, obj, previous)
        if self.state.hold:
            self.state.held.append(event["id"])
            return
        task = asyncio.create_task(self.deliver(event, self.state.copies))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, event: dict[str, Any], copies: int = 1) -> None:
        for _ in range(max(1, copies)):
            if self.state.delay_s:
                await asyncio.sleep(self.state.delay_s)
            for url in self.targets():
                await self._send(url, event)

    async def _send(self, url: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        for attempt, wait in enumerate((0.0, *RETRY_DELAYS_S), start=1):
            if wait:
                await asyncio.sleep(wait)
            record: dict[str, Any] = {"event_id": event["id"], "url": url, "attempt": attempt}
            try:
                async with httpx.AsyncClient(timeout=10, verify=tls_context()) as http:
                    answer = await http.post(
                        url,
                        content=body,
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            "Stripe-Signature": sign(body, self.state.secret),
                            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        },
                    )
                record["status"] = answer.status_code
            except httpx.HTTPError as exc:
                record["status"] = None
                record["error"] = type(exc).__name__
            self.state.deliveries.append(record)
            if record["status"] is not None and 200 <= record["status"] < 300:
                return
