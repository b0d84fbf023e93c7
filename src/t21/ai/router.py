"""`/api/v1/ai`: generate posts, suggest hashtags, improve a text (members and up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from t21.ai import service
from t21.ai.schemas import GenerateIn, GenerateOut, HashtagsIn, HashtagsOut, ImproveIn, ImproveOut
from t21.core.routing import IDEMPOTENT, APIRouter
from t21.organizations.auth import CurrentPrincipal

router = APIRouter(prefix="/ai", tags=["ai"])

EVENT_STREAM = "text/event-stream"
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            EVENT_STREAM: {
                "schema": {"type": "string"},
                "example": 'event: token\ndata: {"text": "Spring"}\n\n'
                'event: result\ndata: {"id": "…", "model": "…", "usage": {…}, …}\n\n',
            }
        },
        "description": "With `Accept: text/event-stream`: `token` events `{text}` as the model "
        "writes, then one `result` event (this endpoint's JSON answer) or one `error` event (a "
        "problem document; nothing charged).",
    }
}


def _wants_stream(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def _event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/generate-content",
    response_model=GenerateOut,
    responses=STREAMED,
    openapi_extra=IDEMPOTENT,
)
async def generate_content(
    body: GenerateIn, request: Request, principal: CurrentPrincipal
) -> GenerateOut | Response:
    """Post variants for a brand on a platform, each within the platform's text limit."""
    runtime = request.app.state.runtime
    if _wants_stream(request):
        events = await service.generate_content_events(runtime, principal, body)
        return _event_stream(events)
    return await service.generate_content(runtime, principal, body)


@router.post("/suggest-hashtags", openapi_extra=IDEMPOTENT)
async def suggest_hashtags(
    body: HashtagsIn, request: Request, principal: CurrentPrincipal
) -> HashtagsOut:
    """Hashtags for a text: each starts with `#`, one word, no duplicates, at most `count`."""
    return await service.suggest_hashtags(request.app.state.runtime, principal, body)


@router.post(
    "/improve-content",
    response_model=ImproveOut,
    responses=STREAMED,
    openapi_extra=IDEMPOTENT,
)
async def improve_content(
    body: ImproveIn, request: Request, principal: CurrentPrincipal
) -> ImproveOut | Response:
    """The text improved for the platform (and the brand's voice), within its limit."""
    runtime = request.app.state.runtime
    if _wants_stream(request):
        events = await service.improve_content_events(runtime, principal, body)
        return _event_stream(events)
    return await service.improve_content(runtime, principal, body)
