"""`/api/v1/organizations/{id}/audit-log`: who did what, for owners and admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from t21.audit import service
from t21.audit.schemas import AuditEntryOut, AuditLog
from t21.core.deps import DbSession
from t21.core.pagination import PageParams
from t21.core.routing import APIRouter
from t21.organizations.auth import OrgAuditor

router = APIRouter(prefix="/organizations", tags=["audit log"])

ActionQuery = Annotated[
    str | None, Query(max_length=64, description="Only this action (`member.role_changed`, …).")
]
ActorQuery = Annotated[
    str | None, Query(max_length=64, description="Only what this user or API key did (its id).")
]
From = Annotated[AwareDatetime | None, Query(alias="from", description="From this time, included.")]
To = Annotated[AwareDatetime | None, Query(alias="to", description="Until this time, excluded.")]


def _filter(
    action: str | None,
    actor_id: str | None,
    since: AwareDatetime | None,
    until: AwareDatetime | None,
) -> service.AuditFilter:
    return service.AuditFilter(action=action, actor_id=actor_id, since=since, until=until)


@router.get("/{organization_id}/audit-log")
async def list_audit_log(
    access: OrgAuditor,
    session: DbSession,
    page: PageParams,
    action: ActionQuery = None,
    actor_id: ActorQuery = None,
    since: From = None,
    until: To = None,
) -> AuditLog:
    """The organization's audit log, newest first (kept `T21_AUDIT_RETENTION_DAYS`)."""
    entries, next_cursor = await service.list_entries(
        session, access.organization_id, page, _filter(action, actor_id, since, until)
    )
    return AuditLog(
        items=[AuditEntryOut.model_validate(service.entry_payload(entry)) for entry in entries],
        next_cursor=next_cursor,
    )


@router.get(
    "/{organization_id}/audit-log/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "description": "Every matching entry, newest first: CSV (formulas defused) or one "
            "JSON object per line.",
        }
    },
)
async def export_audit_log(
    request: Request,
    access: OrgAuditor,
    format: Annotated[Literal["csv", "jsonl"], Query(description="`csv` or `jsonl`.")] = "csv",
    action: ActionQuery = None,
    actor_id: ActorQuery = None,
    since: From = None,
    until: To = None,
) -> StreamingResponse:
    """The whole log (or what the filters select), streamed."""
    criteria = _filter(action, actor_id, since, until)
    service.check_filter(criteria)
    body = service.export(request.app.state.runtime, access.organization_id, criteria, format)
    name = f"t21-audit-log-{access.organization_id}.{format}"
    media_type = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
