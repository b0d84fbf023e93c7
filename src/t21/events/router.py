"""`/api/v1/events`: the organization's event log, and its live stream (members and up)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse

from t21.billing.subscriptions import default_organization
from t21.core.deps import DbSession
from t21.core.pagination import PageParams
from t21.core.routing import APIRouter
from t21.events import service
from t21.events.schemas import EventList, EventOut
from t21.events.stream import open_event_stream, parse_last_event_id
from t21.organizations.auth import CurrentPrincipal
from t21.organizations.permissions import Action

router = APIRouter(prefix="/events", tags=["events"])

EVENT_STREAM = "text/event-stream"
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            EVENT_STREAM: {
                "schema": {"type": "string"},
                "example": 'id: evt_0193…\nevent: post.published\ndata: {"id": "evt_0193…", '
                '"type": "post.published", …}\n\n: heartbeat\n\n',
            }
        },
        "description": "One message per event (`id`, `event` = its type, `data` = the event as "
        "the list shows it), and comment lines as heartbeats.",
    }
}

OrganizationQuery = Annotated[
    uuid.UUID | None,
    Query(description="Default: your personal organization (or the API key's)."),
]


@router.get("")
async def list_events(
    principal: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    organization_id: OrganizationQuery = None,
    type: Annotated[str | None, Query(max_length=64, description="Only this type.")] = None,
) -> EventList:
    """The organization's events of the last 30 days, newest first."""
    organization = default_organization(principal, organization_id, location="query")
    principal.authorize(organization, Action.READ_EVENTS)
    events, next_cursor = await service.list_events(session, organization, page, type)
    return EventList(
        items=[EventOut.model_validate(service.event_payload(event)) for event in events],
        next_cursor=next_cursor,
    )


@router.get("/stream", response_class=StreamingResponse, responses=STREAMED)
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    organization_id: OrganizationQuery = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="Resume after this event."),
    ] = None,
) -> StreamingResponse:
    """The organization's events as they happen (Server-Sent Events); with `Last-Event-ID`,
    every event after that one first."""
    organization = default_organization(principal, organization_id, location="query")
    principal.authorize(organization, Action.READ_EVENTS)
    resume = parse_last_event_id(last_event_id)
    return StreamingResponse(
        await open_event_stream(request.app.state.runtime, organization, resume),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
