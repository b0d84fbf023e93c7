"""A dry run of creating a post: the same checks as `service.create_post`, nothing stored.

Front ends call it as the user types, so it answers 200 with every problem rather than a 422,
and each target's counted length against its network's limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands import service as brands_service
from t21.brands.models import Brand
from t21.core.outside import Permanent
from t21.core.runtime import Runtime
from t21.media.models import MediaAsset
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.platforms.base import parse_options
from t21.platforms.text import text_length
from t21.posts.chain import network_options
from t21.posts.duplicates import errors_for, find_duplicates, of_drafts, warnings_for
from t21.posts.known import Known
from t21.posts.schemas import PostIn
from t21.posts.validation import (
    TargetDraft,
    ai_usage,
    checked_content,
    is_scheduling,
    post_schedule_errors,
    quota_warnings,
)
from t21.queue import service as queue


@dataclass(frozen=True)
class CountedTarget:
    draft: TargetDraft
    length: int
    limit: int
    # Each part's length, the first included, when the target has a thread.
    part_lengths: tuple[int, ...] = ()


@dataclass
class DryRun:
    errors: list[dict[str, Any]]
    warnings: list[dict[str, str]]
    targets: list[CountedTarget]
    # The post's media as checked, in order (what a create would attach).
    assets: list[MediaAsset] = field(default_factory=list)


async def validate_post(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    fields: PostIn,
    *,
    brand: Brand | None = None,
    known: Known | None = None,
    warn: bool = True,
    duplicates_refused: bool = False,
) -> DryRun:
    """What `create_post` would refuse (its 422 `errors`) and warn about, for `fields`; a
    queued post looks at the next free slot without taking it. Checking many posts of one
    brand (an import), the caller passes the brand (write access checked), the `known`
    accounts and media, and asks for the quota warning once for all (`warn=False`). With
    `duplicates_refused` a duplicate is an error (rule `duplicate_content`), as creating the
    post would answer, unless the post allows it."""
    if brand is None:
        brand = await brands_service.get_brand(
            session, principal, fields.brand_id, Action.WRITE_CONTENT
        )
    errors: list[dict[str, Any]] = []
    if fields.schedule == "queue":
        fields = await queue.with_next_slot(session, brand, fields, errors, take=False)
    errors += post_schedule_errors(fields)
    await ai_usage(session, brand.organization_id, fields.ai_call_id, errors)
    drafts, assets = await checked_content(
        session,
        runtime,
        principal,
        brand,
        fields.content,
        fields.media_ids,
        fields.targets,
        errors,
        raising=False,
        known=known,
    )
    warnings = (
        await quota_warnings(session, runtime.settings, brand.organization_id, len(fields.targets))
        if warn and is_scheduling(fields) and fields.targets
        else []
    )
    if is_scheduling(fields) and fields.scheduled_at is not None:
        found = await find_duplicates(session, of_drafts(drafts), fields.scheduled_at)
        if duplicates_refused and not fields.allow_duplicate:
            errors += errors_for(found)
        else:
            warnings += warnings_for(found)
    return DryRun(
        errors=errors, warnings=warnings, targets=[_counted(d) for d in drafts], assets=assets
    )


def _counted(draft: TargetDraft) -> CountedTarget:
    """The target's text length and limit (and each thread part's length)."""
    length, limit = counted_length(draft.platform, draft.text, draft.options)
    parts = (
        (
            length,
            *(counted_length(draft.platform, text, draft.options)[0] for text, _ in draft.thread),
        )
        if draft.thread
        else ()
    )
    return CountedTarget(draft=draft, length=length, limit=limit, part_lengths=parts)


def counted_length(platform: str, text: str, options: dict[str, Any]) -> tuple[int, int]:
    """The text's length as its network counts it, and its limit, on the surface the options
    pick when they are valid (an Instagram story, a Facebook reel), else the default one."""
    provider = registry.rules_provider(platform)
    options = network_options(platform, options)
    try:
        parse_options(provider.options, options, provider.display_name)
        limits = provider.limits_for(options)
    except Permanent:
        limits = provider.limits
    return text_length(text, limits.text_counting), limits.max_text
