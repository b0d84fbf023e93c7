"""`/api/v1/posts/{id}/targets/{target_id}/resolve`: a person settles a target in review."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Body, Request

from t21.core.routing import APIRouter
from t21.organizations.auth import CurrentPrincipal
from t21.posts.schemas import PostOut, post_out
from t21.publishing import review
from t21.publishing.schemas import ResolveIn

router = APIRouter(prefix="/posts", tags=["posts"])


@router.post("/{post_id}/targets/{target_id}/resolve")
async def resolve_target(
    post_id: uuid.UUID,
    target_id: uuid.UUID,
    body: Annotated[ResolveIn, Body()],
    request: Request,
    principal: CurrentPrincipal,
) -> PostOut:
    """Say what happened to a target in `needs_review`: `published` (its link and id are looked
    up where the network allows, if not given), or `not_published` and `retry` (due now) or
    `cancel`. 409 unless the target is in `needs_review`."""
    runtime = request.app.state.runtime
    view = await review.resolve(runtime, principal, post_id, target_id, body)
    return post_out(runtime, view)
