"""What the approval and review-link endpoints take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from t21.media.schemas import AssetOut
from t21.posts.models import PostStatus
from t21.posts.schemas import Approval, Decider

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
RequiredComment = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
]
ReviewerName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
DEFAULT_LINK_HOURS = 72


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment | None = None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: RequiredComment = Field(description="Why, for the author: kept on the post.")


class ReviewLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_hours: int = Field(default=DEFAULT_LINK_HOURS, ge=1, le=720)


class ReviewLinkOut(BaseModel):
    url: str = Field(description="The page to send the reviewer: the front end's /review/{token}.")
    token: str = Field(description="For GET|POST /api/v1/review/{token}.")
    expires_at: datetime


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    name: ReviewerName = Field(description="Who decides, as they sign it.")
    comment: Comment | None = None


class ReviewAccount(BaseModel):
    username: str | None
    display_name: str | None
    avatar_url: str | None


class ReviewTarget(BaseModel):
    network: str = Field(description="The platform name, e.g. `twitter`.")
    network_name: str = Field(description="As people call it, e.g. `X`.")
    account: ReviewAccount | None = Field(description="Null once the account is disconnected.")
    text: str = Field(description="The text this account will post.")
    media: list[AssetOut]
    length: int = Field(description="The text as its network counts it.")
    limit: int = Field(description="The most its network takes.")


class ReviewOut(BaseModel):
    """The post as each network will show it, for someone without an account."""

    post_id: uuid.UUID
    brand_name: str
    status: PostStatus
    scheduled_at: datetime | None
    scheduled_at_local: str | None
    timezone: str
    approval: Approval | None
    can_decide: bool = Field(description="Whether the post waits for approval now.")
    expires_at: datetime = Field(description="When this link stops working.")
    targets: list[ReviewTarget]


class ApprovalEntry(BaseModel):
    """One decision on a post: who made it, what it was, why and when."""

    id: uuid.UUID
    decision: Literal["approved", "rejected", "cancelled"] = Field(
        description="`cancelled`: the post was cancelled while it waited for approval."
    )
    decided_by: Decider = Field(
        description="A user or API key (`name` null once deleted), or a reviewer without an "
        "account by the name they gave through a review link."
    )
    comment: str | None
    at: datetime


class ApprovalHistory(BaseModel):
    items: list[ApprovalEntry] = Field(description="Every decision on the post, oldest first.")
