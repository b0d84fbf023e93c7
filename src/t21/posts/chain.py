"""A target's publication as a chain of steps: its thread's parts in order (position 0 is the
target's own post, each later part a reply to the one before), then its first comment (on the
first part). Which steps are out is recorded on the target (`PostTarget.steps`), one entry per
step, written by the attempt that sent it; this module plans the chain and reads that record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from t21.platforms import registry
from t21.platforms.base import commenting
from t21.posts.models import PostTarget, TargetStatus

PART = "part"
COMMENT = "comment"
# The option naming the text of a target's first comment (API.md "More networks").
FIRST_COMMENT = "first_comment"


class ChainRecord(Protocol):
    """What the chain's view reads of a target: a `PostTarget`, or a row of its columns."""

    @property
    def platform(self) -> str: ...
    @property
    def options(self) -> dict[str, Any] | None: ...
    @property
    def status(self) -> TargetStatus: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def permalink(self) -> str | None: ...
    @property
    def thread(self) -> list[dict[str, Any]] | None: ...
    @property
    def steps(self) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True)
class Step:
    """One publication of a chain: a part of the thread or the first comment."""

    kind: str
    position: int
    text: str
    # The part's own media; for the first part the post's media are used instead.
    media_ids: tuple[uuid.UUID, ...] = ()
    # What it answers at the network: the part before (a reply) or the first part (a comment),
    # and the thread's first part, as recorded ({external_id, permalink, ...}); None for the
    # first part.
    parent: dict[str, Any] | None = None
    root: dict[str, Any] | None = None
    # How many steps the whole chain has, and how many are out before this one.
    total: int = 1
    done: int = 0

    @property
    def follows(self) -> bool:
        """Whether this step answers an earlier one (anything but the first part)."""
        return self.parent is not None

    @property
    def last(self) -> bool:
        return self.done + 1 >= self.total


@dataclass(frozen=True)
class ChainView:
    parts: list[dict[str, Any]] = field(default_factory=list)
    comment: dict[str, Any] | None = None


def comments_as_step(platform: str) -> bool:
    """Whether a first comment on `platform` is a step of its own (recorded, reconciled) rather
    than an option its network's adapter handles while publishing."""
    return commenting(registry.rules_provider(platform)) is not None


def first_comment_of(platform: str, options: dict[str, Any] | None) -> str | None:
    """The target's first comment when it is a step of its own."""
    value = (options or {}).get(FIRST_COMMENT)
    if not isinstance(value, str) or not value or not comments_as_step(platform):
        return None
    return value


def network_options(platform: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """A target's options as its network's adapter takes them: without `first_comment` where
    T21 posts it as a step of its own."""
    if not comments_as_step(platform):
        return dict(options or {})
    return {key: value for key, value in (options or {}).items() if key != FIRST_COMMENT}


def planned(target: PostTarget, text: str) -> list[tuple[str, int, str, tuple[uuid.UUID, ...]]]:
    """Every step of the target's publication in order: (kind, position, text, media ids)."""
    steps: list[tuple[str, int, str, tuple[uuid.UUID, ...]]] = [(PART, 0, text, ())]
    for position, part in enumerate(target.thread or [], start=1):
        media = tuple(uuid.UUID(str(media_id)) for media_id in part.get("media_ids") or [])
        steps.append((PART, position, str(part.get("content") or ""), media))
    comment = first_comment_of(target.platform, target.options)
    if comment is not None:
        steps.append((COMMENT, 0, comment, ()))
    return steps


def recorded(target: ChainRecord, kind: str, position: int) -> dict[str, Any] | None:
    for entry in target.steps or []:
        if entry.get("kind") == kind and entry.get("position") == position:
            return entry
    return None


def next_step(target: PostTarget, text: str) -> Step | None:
    """The first step of the chain that isn't out yet; None when all are."""
    steps = planned(target, text)
    done = 0
    for kind, position, step_text, media in steps:
        if recorded(target, kind, position) is not None:
            done += 1
            continue
        root = recorded(target, PART, 0)
        parent = root if kind == COMMENT else recorded(target, PART, position - 1)
        return Step(
            kind=kind,
            position=position,
            text=step_text,
            media_ids=media,
            parent=parent if position > 0 or kind == COMMENT else None,
            root=root if position > 0 or kind == COMMENT else None,
            total=len(steps),
            done=done,
        )
    return None


def with_step(
    target: PostTarget,
    step: Step,
    external_id: str | None,
    permalink: str | None,
    published_at: str | None,
    ref: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The target's step record with `step` out (a new list: JSON columns change by assignment)."""
    entry: dict[str, Any] = {
        "kind": step.kind,
        "position": step.position,
        "external_id": external_id,
        "permalink": permalink,
        "published_at": published_at,
    }
    if ref:
        entry["ref"] = ref
    kept = [
        existing
        for existing in target.steps or []
        if not (existing.get("kind") == step.kind and existing.get("position") == step.position)
    ]
    return [*kept, entry]


def _pending_status(target: ChainRecord, first_unsent: bool) -> str:
    status = target.status
    if status in (TargetStatus.FAILED, TargetStatus.CANCELLED):
        return status.value
    if first_unsent and status in (TargetStatus.NEEDS_REVIEW, TargetStatus.PUBLISHING):
        return status.value
    return "pending"


def chain_view(target: ChainRecord) -> ChainView:
    """The target's parts (every one, the first included, `[]` without a thread) and its first
    comment, each with its state."""
    thread = target.thread or []
    parts: list[dict[str, Any]] = []
    first_unsent = True
    if thread:
        for position in range(len(thread) + 1):
            entry = recorded(target, PART, position)
            if entry is None and position == 0 and target.status is TargetStatus.PUBLISHED:
                entry = {"external_id": target.external_id, "permalink": target.permalink}
            if entry is not None:
                parts.append(
                    {
                        "position": position,
                        "status": "published",
                        "external_id": entry.get("external_id"),
                        "permalink": entry.get("permalink"),
                    }
                )
                continue
            parts.append(
                {
                    "position": position,
                    "status": _pending_status(target, first_unsent),
                    "external_id": None,
                    "permalink": None,
                }
            )
            first_unsent = False
    comment: dict[str, Any] | None = None
    if first_comment_of(target.platform, target.options) is not None:
        entry = recorded(target, COMMENT, 0)
        if entry is not None:
            comment = {
                "status": "published",
                "external_id": entry.get("external_id"),
                "permalink": entry.get("permalink"),
            }
        else:
            all_parts_out = all(part["status"] == "published" for part in parts) and (
                bool(parts) or recorded(target, PART, 0) is not None
            )
            comment = {
                "status": _pending_status(target, all_parts_out),
                "external_id": None,
                "permalink": None,
            }
    return ChainView(parts=parts, comment=comment)
