"""A fake of Resend's email API (`POST /emails`, `GET /emails/{id}`), faithful to its wire format.

It validates like Resend, honours `Idempotency-Key` for 24 hours (replay, 409 on a different
payload, 409 while the first request is still running) and answers errors in Resend's
`{statusCode, name, message}` envelope. `/_control` lets tests inject faults and read back
exactly what was received.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_RECIPIENTS = 50
MAX_ATTACHMENTS_BYTES = 40 * 1024 * 1024
IDEMPOTENCY_TTL_S = 24 * 3600


@dataclass
class Fault:
    """Answer the next `count` sends with this error (or, with `lose_response`, accept the email
    and then hold the response for `delay_s`, as if it were lost on the way back)."""

    status: int = 500
    name: str = "application_error"
    message: str = "Injected fault"
    count: int = 1
    retry_after: float | str | None = None  # seconds, or an HTTP date sent verbatim
    delay_s: float = 0.0
    lose_response: bool = False


@dataclass
class _Idempotent:
    payload_hash: str
    created: float
    response: tuple[int, dict[str, Any]] | None = None  # None while the first request runs


@dataclass
class ResendState:
    emails: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, _Idempotent] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)

    def reset(self) -> None:
        self.emails.clear()
        self.received.clear()
        self.idempotency.clear()
        self.faults.clear()


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"statusCode": status, "name": name, "message": message},
        status_code=status,
        headers=headers,
    )


def _as_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _validate(body: Any) -> tuple[int, str, str] | None:
    if not isinstance(body, dict):
        return 422, "invalid_parameter", "The body must be a JSON object."
    for name in ("from", "to", "subject"):
        if not body.get(name):
            return 422, "missing_required_field", f"Missing `{name}` field."
    recipients = _as_list(body["to"])
    if recipients is None:
        return 422, "invalid_parameter", "`to` must be a string or an array of strings."
    if len(recipients) > MAX_RECIPIENTS:
        return 422, "invalid_parameter", f"`to` accepts at most {MAX_RECIPIENTS} addresses."
    if any("@" not in address for address in recipients):
        return 422, "validation_error", "Invalid `to` field."
    has_body = body.get("html") is not None or body.get("text") is not None
    if body.get("template") is not None and has_body:
        return 422, "invalid_parameter", "`template` cannot be combined with `html` or `text`."
    if body.get("template") is None and not has_body:
        return 422, "missing_required_field", "Missing `html` or `text` field."
    total = 0
    for attachment in body.get("attachments") or []:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if isinstance(content, str):
            total += len(content)
    if total > MAX_ATTACHMENTS_BYTES:
        return 422, "invalid_parameter", "Attachments exceed 40 MB."
    return None


def create_resend_app(state: ResendState | None = None) -> Starlette:
    state = state or ResendState()
    lock = asyncio.Lock()

    async def send_email(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if not auth.removeprefix("Bearer ").strip().startswith("re_"):
            return _error(403, "invalid_api_key", "API key is invalid.")
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "validation_error", "The body is not valid JSON.")
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 256:
            return _error(400, "invalid_idempotency_key", "Idempotency key must be 1-256 chars.")
        payload_hash = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

        async with lock:
            now = time.time()
            for stale in [
                k for k, v in state.idempotency.items() if now - v.created > IDEMPOTENCY_TTL_S
            ]:
                del state.idempotency[stale]
            if key is not None and key in state.idempotency:
                entry = state.idempotency[key]
                if entry.payload_hash != payload_hash:
                    return _error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different payload.",
                    )
                if entry.response is None:
                    return _error(
                        409,
                        "concurrent_idempotent_requests",
                        "Same idempotency key used while the original request is in progress.",
                    )
                status, content = entry.response
                return JSONResponse(content, status_code=status)
            fault = state.faults[0] if state.faults else None
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    state.faults.pop(0)
            if key is not None:
                state.idempotency[key] = _Idempotent(payload_hash, now)

        if fault is not None and not fault.lose_response:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if key is not None:
                state.idempotency.pop(key, None)  # a failed request may be retried with its key
            headers = None
            if isinstance(fault.retry_after, str):
                headers = {"retry-after": fault.retry_after}
            elif fault.retry_after:
                headers = {"retry-after": f"{fault.retry_after:g}"}
            return _error(fault.status, fault.name, fault.message, headers)

        problem = _validate(body)
        if problem is not None:
            if key is not None:
                state.idempotency.pop(key, None)
            return _error(*problem)
        email_id = str(uuid.uuid4())
        record = {
            "id": email_id,
            "object": "email",
            "from": body["from"],
            "to": _as_list(body["to"]),
            "subject": body["subject"],
            "html": body.get("html"),
            "text": body.get("text"),
            "created_at": datetime.now(UTC).isoformat(),
            "last_event": "delivered",
        }
        state.emails[email_id] = record
        state.received.append({**record, "idempotency_key": key})
        if key is not None:
            state.idempotency[key].response = (200, {"id": email_id})
        if fault is not None and fault.lose_response:
            await asyncio.sleep(fault.delay_s)
        return JSONResponse({"id": email_id})

    async def get_email(request: Request) -> Response:
        record = state.emails.get(request.path_params["email_id"])
        if record is None:
            return _error(404, "not_found", "Email not found.")
        return JSONResponse(record)

    async def control_faults(request: Request) -> Response:
        body = await request.json()
        fault = Fault(**{k: v for k, v in body.items() if k in Fault.__dataclass_fields__})
        state.faults.append(fault)
        return JSONResponse({"queued": len(state.faults)})

    async def control_emails(_request: Request) -> Response:
        return JSONResponse({"emails": state.received})

    async def control_reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    app = Starlette(
        routes=[
            Route("/emails", send_email, methods=["POST"]),
            Route("/emails/{email_id}", get_email, methods=["GET"]),
            Route("/_control/faults", control_faults, methods=["POST"]),
            Route("/_control/emails", control_emails, methods=["GET"]),
            Route("/_control/reset", control_reset, methods=["POST"]),
        ]
    )
    app.state.resend = state
    return app
