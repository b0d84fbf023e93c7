"""What the post endpoints take and give."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from t21.core.localtime import to_utc, zone_named
from t21.core.routing import model_json
from t21.media.schemas import AssetOut, AssetRecord
from t21.media.storage import storage_of
from t21.posts.chain import ChainRecord, chain_view
from t21.posts.models import PostStatus, TargetStatus
from t21.posts.status import PENDING

if TYPE_CHECKING:
    from t21.core.runtime import Runtime
    from t21.posts.reading import PostView

# Generous: the longest network text (Facebook, 63,206) with room; each target is then held to
# its own network's limit.
MAX_CONTENT = 65_000
MAX_TARGETS = 50
MAX_MEDIA = 35  # TikTok photo posts, the most any network takes
# Parts after the first of a thread: X's composer takes 25 posts in one thread.
MAX_THREAD_PARTS = 24

Content = Annotated[str, Field(max_length=MAX_CONTENT)]
# Any offset in, UTC from then on.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda moment: moment.astimezone(UTC))]
TIMEZONE_DESCRIPTION = (
    "The IANA time zone (e.g. Europe/London) that a `scheduled_at` without an offset is read in. "
    "A wall time the zone skips or repeats (daylight saving time) is refused: 422 with rule "
    "`nonexistent_local_time` or `ambiguous_local_time`."
)
SCHEDULED_AT_DESCRIPTION = (
    "RFC 3339 with an offset (stored in UTC), or a wall time without one together with `timezone`."
)


class LocalSchedule(BaseModel):
    """`scheduled_at` with an offset, or as a wall time in `timezone`; UTC once validated."""

    timezone: str | None = Field(default=None, max_length=64, description=TIMEZONE_DESCRIPTION)
    scheduled_at: datetime | None = Field(default=None, description=SCHEDULED_AT_DESCRIPTION)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            zone_named(name)
        return name

    @field_validator("scheduled_at")
    @classmethod
    def _in_utc(cls, moment: datetime | None, info: ValidationInfo) -> datetime | None:
        if moment is None or "timezone" not in info.data:  # no time, or the zone is refused
            return moment
        return to_utc(moment, info.data["timezone"])


class ThreadPartIn(BaseModel):
    """One part of a thread after the first, published as a reply to the part before it."""

    model_config = ConfigDict(extra="forbid")

    content: Content
    media_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_MEDIA)] = Field(default_factory=list)


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    social_account_id: uuid.UUID
    content: Content | None = Field(
        default=None, description="This account's text; the post's `content` when absent."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="The network's per-post options (see GET /api/v1/platforms).",
    )
    thread: Annotated[list[ThreadPartIn], Field(max_length=MAX_THREAD_PARTS)] | None = Field(
        default=None,
        description=(
            "The parts after the first of a thread, each published as a reply to the one "
            "before it (networks whose `supports_threads` is true)."
        ),
    )


class PostIn(LocalSchedule):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "brand_id": "01938a5e-7c1d-7b3e-9f10-2a4b6c8d0e12",
                    "content": "Fresh sourdough out of the oven at 8 — come early!",
                    "targets": [
                        {"social_account_id": "01938a5f-1111-7a2b-8c3d-4e5f60718293"},
                        {
                            "social_account_id": "01938a5f-2222-7a2b-8c3d-4e5f60718294",
                            "content": "Fresh sourdough at 8. #bakery",
                        },
                    ],
                    "scheduled_at": "2027-03-01T08:00:00Z",
                }
            ]
        },
    )

    brand_id: uuid.UUID
    content: Content = ""
    media_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_MEDIA)] = Field(default_factory=list)
    targets: Annotated[list[TargetIn], Field(max_length=MAX_TARGETS)]
    status: Literal["draft", "scheduled"] | None = Field(
        default=None,
        description="Default: `scheduled` when `scheduled_at` is given, else `draft`.",
    )
    schedule: Literal["queue"] | None = Field(
        default=None,
        description="`queue`: scheduled at the brand's next free queue slot, instead of "
        "`scheduled_at`.",
    )
    ai_call_id: uuid.UUID | None = Field(
        default=None,
        description="The AI call that wrote this post (the `id` of an /api/v1/ai answer): its "
        "model and token usage become the post's `ai`.",
    )
    allow_duplicate: bool = Field(
        default=False,
        description="Schedule it even if the same text is on the same account within 24 hours "
        "(otherwise 409 `duplicate_content`).",
    )

    @model_validator(mode="after")
    def _one_schedule(self) -> PostIn:
        if self.schedule == "queue" and self.scheduled_at is not None:
            raise ValueError("give either scheduled_at or schedule: queue, not both")
        if self.schedule == "queue" and self.status == "draft":
            raise ValueError("a queued post is scheduled; a draft takes no slot")
        return self


class PostPatch(BaseModel):
    """Changes to a post's content. Scheduling goes through /schedule, /publish and /cancel."""

    model_config = ConfigDict(extra="forbid")

    content: Content | None = None
    media_ids: Annotated[list[uuid.UUID], Field(max_length=MAX_MEDIA)] | None = None
    targets: Annotated[list[TargetIn], Field(max_length=MAX_TARGETS)] | None = Field(
        default=None,
        description="The whole new set of targets; accounts kept keep their target.",
    )
    allow_duplicate: bool = Field(
        default=False,
        description="Keep the edit even if the post, on its way out, then repeats another "
        "(see create).",
    )


class ScheduleIn(LocalSchedule):
    model_config = ConfigDict(extra="forbid")

    scheduled_at: datetime = Field(description=SCHEDULED_AT_DESCRIPTION)
    allow_duplicate: bool = Field(
        default=False, description="Schedule it even if it repeats a post (see create)."
    )


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_duplicate: bool = Field(
        default=False, description="Publish it even if it repeats a post (see create)."
    )


class TargetError(BaseModel):
    code: str
    message: str


class PartOut(BaseModel):
    position: int = Field(description="0 for the first part (the target's own post).")
    status: str = Field(
        description=(
            "`published`, `publishing`, `pending` (not sent yet), `needs_review`, `failed` or "
            "`cancelled`."
        )
    )
    external_id: str | None
    permalink: str | None


class CommentOut(BaseModel):
    status: str = Field(description="As a part's status.")
    external_id: str | None
    permalink: str | None


class TargetRecord(ChainRecord, Protocol):
    """What a target's answer reads: a `PostTarget`, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def social_account_id(self) -> uuid.UUID | None: ...
    @property
    def content(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def last_error_code(self) -> str | None: ...
    @property
    def last_error_message(self) -> str | None: ...


class PostRecord(Protocol):
    """What a post's answer reads: a `Post`, or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def brand_id(self) -> uuid.UUID: ...
    @property
    def author_id(self) -> uuid.UUID | None: ...
    @property
    def content(self) -> str: ...
    @property
    def status(self) -> PostStatus: ...
    @property
    def scheduled_at(self) -> datetime | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def ai(self) -> dict[str, Any] | None: ...
    @property
    def approval(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class TargetOut(BaseModel):
    id: uuid.UUID
    social_account_id: uuid.UUID | None
    platform: str
    content: str | None = Field(description="This account's own text, or null for the post's.")
    options: dict[str, Any]
    status: TargetStatus
    attempts: int
    next_attempt_at: datetime | None
    external_id: str | None
    permalink: str | None
    published_at: datetime | None
    last_error: TargetError | None
    thread: list[ThreadPartIn] | None = Field(
        default=None, description="The thread's parts after the first, as written."
    )
    parts: list[PartOut] = Field(
        default_factory=list,
        description="Every part of a thread, the first included; [] for a target without one.",
    )
    first_comment: CommentOut | None = Field(
        default=None, description="The first comment's state, when `options.first_comment` is set."
    )

    @classmethod
    def of(cls, target: TargetRecord) -> TargetOut:
        chain = chain_view(target)
        return cls(
            id=target.id,
            social_account_id=target.social_account_id,
            platform=target.platform,
            content=target.content,
            options=dict(target.options or {}),
            status=target.status,
            attempts=target.attempts,
            next_attempt_at=target.due_at if target.status in PENDING else None,
            external_id=target.external_id,
            permalink=target.permalink,
            published_at=target.published_at,
            last_error=(
                TargetError(code=target.last_error_code, message=target.last_error_message or "")
                if target.last_error_code
                else None
            ),
            thread=(
                [ThreadPartIn.model_validate(part) for part in target.thread]
                if target.thread
                else None
            ),
            parts=[PartOut(**part) for part in chain.parts],
            first_comment=CommentOut(**chain.comment) if chain.comment is not None else None,
        )


class AiUsage(BaseModel):
    model: str
    prompt_tokens: int
    completion_tokens: int


class PostWarning(BaseModel):
    code: str
    message: str
    post_id: uuid.UUID | None = Field(
        default=None, description="The other post, for a `duplicate_content` warning."
    )


class Decider(BaseModel):
    type: Literal["user", "api_key", "reviewer"] = Field(
        description="`reviewer`: someone without an account, through a review link."
    )
    id: uuid.UUID | None = Field(description="The user or API key; null for a reviewer.")
    name: str | None


class Approval(BaseModel):
    status: Literal["pending", "approved", "rejected", "cancelled"] = Field(
        description="`cancelled`: the post was cancelled while it waited for approval."
    )
    decided_by: Decider | None
    decided_at: datetime | None
    comment: str | None


class Author(BaseModel):
    type: Literal["user", "api_key"]
    id: uuid.UUID
    name: str | None


class PostOut(BaseModel):
    id: uuid.UUID
    brand_id: uuid.UUID
    author_id: uuid.UUID | None = Field(
        description="The user who created the post; null when an API key did (see `created_by`)."
    )
    created_by: Author | None = Field(
        default=None,
        description="Who created the post: a user, or an API key (`{type, id, name}`, as the "
        "audit log's `actor`); null once that user or key is deleted.",
    )
    content: str
    media: list[AssetOut] = Field(description="The post's media, in order.")
    status: PostStatus
    scheduled_at: datetime | None
    scheduled_at_local: str | None = Field(
        description="`scheduled_at` in the brand's timezone (RFC 3339 with its offset)."
    )
    timezone: str = Field(description="The brand's timezone.")
    published_at: datetime | None
    ai: AiUsage | None
    approval: Approval | None = Field(
        description="Where the post stands with its approvers; null if it never needed one."
    )
    created_at: datetime
    updated_at: datetime
    targets: list[TargetOut]
    warnings: list[PostWarning] = Field(
        default_factory=list,
        description="Heads-ups about this change, e.g. the month's publishing quota running out.",
    )


def post_out(runtime: Runtime, one: PostView) -> PostOut:
    """The post as the API shows it (and as its events carry it)."""
    return post_out_of(
        runtime,
        one.post,
        one.targets,
        one.media,
        one.timezone,
        created_by=one.created_by,
        warnings=one.warnings,
    )


def post_json(runtime: Runtime, one: PostView) -> bytes:
    """`post_out` as the JSON document FastAPI would send for it (fields by alias)."""
    return model_json(post_out(runtime, one))


def post_out_of(
    runtime: Runtime,
    post: PostRecord,
    targets: Sequence[TargetRecord],
    media: Sequence[AssetRecord],
    timezone: str,
    *,
    created_by: dict[str, Any] | None = None,
    warnings: Sequence[dict[str, str]] = (),
) -> PostOut:
    """`post_out` of a post's parts, ORM objects or rows of their columns (the list's)."""
    storage, ttl = storage_of(runtime), runtime.settings.media_url_ttl_s
    return PostOut(
        id=post.id,
        brand_id=post.brand_id,
        author_id=post.author_id,
        created_by=Author.model_validate(created_by) if created_by else None,
        content=post.content,
        media=[AssetOut.of(asset, storage, ttl) for asset in media],
        status=post.status,
        scheduled_at=post.scheduled_at,
        scheduled_at_local=local_time(post.scheduled_at, timezone),
        timezone=timezone,
        published_at=post.published_at,
        ai=AiUsage.model_validate(post.ai) if post.ai else None,
        approval=Approval.model_validate(post.approval) if post.approval else None,
        created_at=post.created_at,
        updated_at=post.updated_at,
        targets=[TargetOut.of(target) for target in targets],
        warnings=[PostWarning.model_validate(warning) for warning in warnings],
    )


def local_time(moment: datetime | None, timezone: str) -> str | None:
    """`moment` in `timezone`, RFC 3339 with its offset (a post's `scheduled_at_local`)."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).isoformat()


class PostList(BaseModel):
    items: list[PostOut]
    next_cursor: str | None = None


class PartCheck(BaseModel):
    position: int
    length: int
    limit: int


class TargetCheck(BaseModel):
    social_account_id: uuid.UUID
    platform: str
    length: int = Field(description="The target's text as its network counts it.")
    limit: int = Field(description="The most its network takes.")
    parts: list[PartCheck] = Field(
        default_factory=list,
        description="Each part of the target's thread, the first included; absent without one.",
    )

    @model_serializer(mode="wrap")
    def _parts_only_for_threads(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        shown: dict[str, Any] = handler(self)
        if not shown.get("parts"):
            shown.pop("parts", None)
        return shown


class PostCheck(BaseModel):
    """What creating the post would answer, without creating it."""

    valid: bool
    errors: list[dict[str, Any]] = Field(description="As the entries of a 422's `errors`.")
    warnings: list[PostWarning]
    targets: list[TargetCheck] = Field(description="The targets whose account is usable.")


class ImportRowErrors(BaseModel):
    row: int = Field(description="The data row, counted from 1 (a CSV header is not a row).")
    errors: list[dict[str, Any]] = Field(
        description="As the entries of a 422's `errors`: of the create body the row stands for "
        "(`loc` from `body`), or of the row's own cell (`loc` naming the column)."
    )


class ImportOut(BaseModel):
    dry_run: bool
    rows: int = Field(description="Data rows in the file.")
    valid: int = Field(description="Rows without a problem.")
    created: int = Field(description="Posts created (0 for a dry run).")
    post_ids: list[uuid.UUID] = Field(description="The posts created, in row order.")
    errors: list[ImportRowErrors]
    warnings: list[PostWarning] = Field(default_factory=list)


class BulkRefusal(BaseModel):
    post_id: uuid.UUID
    code: str = Field(description="The error code the post alone would have answered.")
    detail: str


class BulkOut(BaseModel):
    done: list[uuid.UUID]
    refused: list[BulkRefusal]
