"""The project's router: FastAPI's, with routes that honour `Idempotency-Key` when they opt in.

Every domain router is a `t21.core.routing.APIRouter`. A POST that creates something declares
`openapi_extra=IDEMPOTENT`; its handler then runs at most once per key (see `core.idempotency`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import fastapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from t21.core.idempotency import HEADER, IDEMPOTENT, Idempotency

__all__ = ["IDEMPOTENT", "APIRouter", "T21Route"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class T21Route(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not (self.openapi_extra or {}).get("x-idempotent"):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            key = request.headers.get(HEADER)
            resolve_owner = getattr(request.app.state, "idempotency_owner", None)
            owner = resolve_owner(request) if key is not None and resolve_owner else None
            if key is None or owner is None:
                return await handler(request)
            body = await request.body()
            guard = Idempotency(request.app.state.runtime, owner, key, request, body)
            replay = await guard.begin()
            if replay is not None:
                return replay
            try:
                response = await handler(request)
            except BaseException:
                await _abandon_later(request, guard)
                raise
            if guard.remembers(response):
                await guard.finish(response)
            else:
                await _abandon_later(request, guard)
            return response

        return idempotent_handler


async def _abandon_later(request: Request, guard: Idempotency) -> None:
    """Forget the key once the request's unit of work has closed (FastAPI closes the request
    stack after the handler's dependencies): doing it now would wait on that transaction."""
    stack = request.scope.get("fastapi_inner_astack")
    if isinstance(stack, AsyncExitStack):
        stack.push_async_callback(guard.abandon)
    else:
        await guard.abandon()


class APIRouter(fastapi.APIRouter):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", T21Route)
        super().__init__(**kwargs)
