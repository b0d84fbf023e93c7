"""Sending deliveries: claimed from the database like publishing, one attempt per job.

    pending (due) ──dispatcher: claim with a lease──► job: take the claim (compare-and-set)
        ──POST──► 2xx: succeeded │ else: pending again at now + backoff, or failed after the window

- The dispatcher claims due deliveries in one transaction (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL, `BEGIN IMMEDIATE` on SQLite), at most `webhook_max_in_flight` per endpoint
  counting those already in flight, so a slow endpoint holds a few workers and no more.
- A claim is a lease: if the job is lost (broker flushed) or its worker dies, the delivery is
  due again when the lease ends. A job starts by swapping the claim's token for its own, so a
  duplicate message does nothing; an outcome is written only under the token that sent it.
- Every attempt is logged (status code, a capped excerpt of the answer, duration). An endpoint
  failing for `webhook_retry_window_s` without one success is disabled and its owners emailed.
- Traced (while tracing is on), every attempt is a span `webhook deliver`, a child of the span
  its event was recorded in (`events.traceparent`): one trace runs from the request that changed
  something to the endpoint's answer, however many jobs and retries lie between. A delivery
  carries exactly one event, so the attempt is that event's child, not merely linked to it; the
  job that ran the attempt (sent after the event's commit, by the dispatcher for a retry, or by
  another delivery handing its slot over) is linked to it. The POST's own client span, and the
  recording of the outcome, are children of the attempt.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry import trace
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21 import __version__
from t21.core import clock, metrics, tracing
from t21.core.crypto import DecryptionError
from t21.core.logging import get_logger
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.tls import tls_context
from t21.core.uow import session_scope
from t21.core.urlguard import UnsafeURL, resolve
from t21.events.models import Event
from t21.events.service import event_payload
from t21.webhooks.claims import Claim, hand_over, lease_deadline
from t21.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from t21.webhooks.notify import notify_disabled
from t21.webhooks.secrets import signing_secrets
from t21.webhooks.signing import signature_header

log = get_logger("t21.webhooks")

USER_AGENT = f"T21-Webhooks/{__version__}"
MAX_ERROR = 500


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failures: the base doubled per failure,
    capped, stretched by up to a quarter at random so many endpoints don't retry in step."""
    doubled: float = settings.webhook_retry_base_s * 2.0 ** max(0, attempts - 1)
    ceiling = min(settings.webhook_retry_max_s, doubled)
    return ceiling * (1 + random.random() / 4)  # noqa: S311


@dataclass(frozen=True)
class Message:
    """One attempt's request, read under the claim."""

    delivery_id: uuid.UUID
    token: str
    endpoint_id: uuid.UUID
    url: str
    event_id: str
    event_type: str
    body: bytes
    secrets: list[str]
    # The trace the event was recorded in (W3C `traceparent`), if it was recorded in one.
    traceparent: str | None


async def take(runtime: Runtime, claim: Claim) -> Message | None:
    """Swap the claim's token for a fresh one (a duplicate job finds it gone and stops) and
    read what to send; None when the claim is no longer ours to act on."""
    settings = runtime.settings
    token = uuid.uuid4().hex
    now = clock.now()
    async with session_scope(runtime) as session:
        taken = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.delivery_id,
                WebhookDelivery.lease_token == claim.token,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(
                lease_token=token,
                lease_expires_at=lease_deadline(now, settings),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            return None
        row = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint, Event)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(Event, Event.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id == claim.delivery_id)
            )
        ).one_or_none()
        if row is None:
            return None
        delivery, endpoint, event = row
        if endpoint.status is not EndpointStatus.ENABLED:
            return None
        try:
            secrets = signing_secrets(settings, endpoint, now)
        except DecryptionError:
            log.error("a webhook secret can't be decrypted", endpoint_id=str(endpoint.id))
            secrets = []
        return Message(
            delivery_id=delivery.id,
            token=token,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            event_id=event.id,
            event_type=event.type,
            body=encode(event_payload(event)),
            secrets=secrets,
            traceparent=event.traceparent,
        )


def encode(payload: dict[str, Any]) -> bytes:
    """The body sent: compact JSON, the same bytes on every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def send(settings: Settings, message: Message) -> Outcome:
    """POST the message once; never raises, never follows a redirect. The whole attempt,
    resolving the host included, ends within `webhook_timeout_s`."""
    started = time.perf_counter()

    def done(
        ok: bool, code: int | None = None, error: str | None = None, excerpt: str | None = None
    ) -> Outcome:
        elapsed = int((time.perf_counter() - started) * 1000)
        return Outcome(ok, code, error[:MAX_ERROR] if error else None, excerpt, elapsed)

    if not message.secrets:
        return done(False, error="the endpoint's secret can't be read; rotate it")
    timeout = settings.webhook_timeout_s
    try:
        async with asyncio.timeout(timeout):
            code, excerpt = await _post(settings, message)
    except UnsafeURL as refused:
        return done(False, error=f"refused: the URL {refused}")
    except (TimeoutError, httpx.TimeoutException):
        return done(False, error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return done(False, error=f"could not connect: {type(error).__name__}")
    except Exception:
        log.exception("webhook attempt failed unexpectedly", delivery_id=str(message.delivery_id))
        return done(False, error="the request could not be made")
    if 200 <= code < 300:
        return done(True, code, excerpt=excerpt)
    if 300 <= code < 400:
        return done(False, code, "redirects are not followed", excerpt)
    return done(False, code, f"the endpoint answered {code}", excerpt)


async def _post(settings: Settings, message: Message) -> tuple[int, str | None]:
    """The signed request to the checked address; the status code and a response excerpt."""
    target = await resolve(message.url, production=settings.is_production)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            message.secrets, message.event_id, timestamp, message.body
        ),
    }
    url = httpx.URL(message.url)
    extensions: dict[str, Any] = {}
    if target.address is not None:
        # Connect to the address that was checked, not to whatever the name resolves to next.
        headers["host"] = url.netloc.decode()
        url = url.copy_with(host=target.address)
        if url.scheme == "https":
            extensions["sni_hostname"] = target.host
    async with (
        httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            follow_redirects=False,
            trust_env=False,
            verify=tls_context(),
        ) as client,
        client.stream(
            "POST", url, content=message.body, headers=headers, extensions=extensions
        ) as response,
    ):
        excerpt = await _excerpt(response, settings.webhook_response_excerpt_bytes)
        return response.status_code, excerpt


async def _excerpt(response: httpx.Response, limit: int) -> str | None:
    """The first `limit` bytes of the body as text; the rest is not read."""
    if limit <= 0:
        return None
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept.extend(chunk[: limit - len(kept)])
        if len(kept) >= limit:
            break
    if not kept:
        return None
    # PostgreSQL text can't hold NUL: an endpoint answering binary must not break the log.
    return kept.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def record(runtime: Runtime, message: Message, outcome: Outcome) -> DeliveryStatus | None:
    """Log the attempt and, if the claim is still ours, move the delivery on; its new status."""
    settings = runtime.settings
    now = clock.now()
    async with session_scope(runtime) as session:
        delivery = await session.get(
            WebhookDelivery, message.delivery_id, populate_existing=True, with_for_update=True
        )
        if delivery is None:
            return None  # the endpoint was deleted meanwhile
        session.add(
            WebhookAttempt(
                delivery_id=message.delivery_id,
                succeeded=outcome.succeeded,
                status_code=outcome.status_code,
                error=outcome.error,
                response_excerpt=outcome.excerpt,
                duration_ms=outcome.duration_ms,
            )
        )
        if delivery.lease_token != message.token:
            return None
        endpoint = await session.get(
            WebhookEndpoint, delivery.endpoint_id, populate_existing=True, with_for_update=True
        )
        assert endpoint is not None
        status = await _settle(session, settings, delivery, endpoint, outcome, now)
        if endpoint.status is EndpointStatus.ENABLED:
            await hand_over(session, settings, endpoint.id)
        return status


async def _settle(
    session: AsyncSession,
    settings: Settings,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: datetime,
) -> DeliveryStatus:
    """Move the delivery (and the endpoint's health) on after one attempt."""
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.lease_token = None
    delivery.lease_expires_at = None
    if outcome.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.due_at = None
        delivery.last_error = None
        endpoint.last_success_at = now
        endpoint.failing_since = None
        metrics.WEBHOOK_DELIVERIES.labels("succeeded").inc()
        return delivery.status
    delivery.last_error = outcome.error
    metrics.WEBHOOK_DELIVERIES.labels("failed_attempt").inc()
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    window = timedelta(seconds=settings.webhook_retry_window_s)
    if endpoint.failing_since <= now - window:
        await disable_failing(session, settings, endpoint)
        return DeliveryStatus.FAILED
    if delivery.retrying_since <= now - window:
        delivery.status = DeliveryStatus.FAILED
        delivery.due_at = None
        metrics.WEBHOOK_DELIVERIES.labels("given_up").inc()
        return delivery.status
    delivery.due_at = now + timedelta(seconds=retry_delay(settings, delivery.attempts))
    return delivery.status


async def disable_failing(
    session: AsyncSession, settings: Settings, endpoint: WebhookEndpoint
) -> None:
    """Disable an endpoint that failed for the whole retry window and tell its owners."""
    await disable(session, endpoint, reason="failing")
    log.warning("webhook endpoint disabled after failing", endpoint_id=str(endpoint.id))
    await notify_disabled(session, settings, endpoint)


async def disable(session: AsyncSession, endpoint: WebhookEndpoint, *, reason: str) -> None:
    """Stop delivering to `endpoint`: its pending deliveries fail (a retry by hand revives one
    once it is enabled again)."""
    endpoint.status = EndpointStatus.DISABLED
    endpoint.disabled_reason = reason
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.FAILED,
            due_at=None,
            lease_token=None,
            lease_expires_at=None,
            last_error=f"the endpoint was disabled ({reason})",
        )
        .execution_options(synchronize_session=False)
    )


async def deliver(runtime: Runtime, claim: Claim) -> DeliveryStatus | None:
    """One attempt of a claimed delivery, from taking the claim to the recorded outcome."""
    message = await take(runtime, claim)
    if message is None:
        return None
    attributes: dict[str, str | int] = {
        "t21.event_id": message.event_id,
        "t21.event_type": message.event_type,
        "t21.webhook_delivery_id": str(message.delivery_id),
        "t21.webhook_endpoint_id": str(message.endpoint_id),
    }
    with tracing.continued_span(
        "webhook deliver", message.traceparent, attributes=attributes
    ) as span:
        outcome = await send(runtime.settings, message)
        if outcome.status_code is not None:
            span.set_attribute("http.response.status_code", outcome.status_code)
        if not outcome.succeeded:
            span.set_status(trace.Status(trace.StatusCode.ERROR, outcome.error))
            log.info(
                "webhook attempt failed",
                delivery_id=str(message.delivery_id),
                endpoint_id=str(message.endpoint_id),
                status_code=outcome.status_code,
                error=outcome.error,
            )
        return await record(runtime, message, outcome)
