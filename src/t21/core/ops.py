"""Operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import text

from t21.core import metrics
from t21.core.errors import NotAuthenticated, Unavailable
from t21.core.logging import get_logger
from t21.core.problems import problem_response
from t21.core.runtime import ConsumerDown, Runtime

log = get_logger("t21.ops")
router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 3.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness: the process answers, and its job consumer hasn't been cut off for long",
    responses={503: {"description": "The job consumer can't reach the broker for too long."}},
)
async def health(request: Request) -> Any:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    down_for = runtime.jobs.consumer_down_for if runtime is not None else 0.0
    limit = request.app.state.settings.broker_down_limit_s
    if down_for > limit:
        log.error("not alive: the job consumer can't read the broker", down_s=round(down_for))
        error = Unavailable(
            f"The job consumer has been unable to read the broker for {down_for:.0f} s "
            f"(limit {limit:g} s): restart this process.",
            checks={"broker": "consumer down"},
        )
        return problem_response(error, request_id=request.state.request_id)
    return Health(status="ok")


async def readiness_checks(runtime: Runtime) -> dict[str, str]:
    """'ok' or the reason, for the database and the job broker."""

    async def database() -> None:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    checks: dict[str, str] = {}
    for name, probe in (("database", database), ("broker", runtime.jobs.ping)):
        try:
            await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_S)
        except TimeoutError:
            checks[name] = f"no answer within {CHECK_TIMEOUT_S:g} s"
        except ConsumerDown as exc:
            checks[name] = f"consumer not reading: {exc}"
        except Exception as exc:
            checks[name] = f"unreachable: {type(exc).__name__}"
        else:
            checks[name] = "ok"
    return checks


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the database and the job broker answer",
    responses={503: {"description": "A dependency failed; the problem names it."}},
)
async def ready(request: Request) -> Any:
    checks = await readiness_checks(request.app.state.runtime)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        log.warning("not ready", checks=checks)
        error = Unavailable(f"Not ready: {', '.join(failed)} failed.", checks=checks)
        return problem_response(error, request_id=request.state.request_id)
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_endpoint(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token is not None:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.get_secret_value().encode()):
            raise NotAuthenticated("The metrics endpoint needs its bearer token.")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
