"""A dry run of creating a post: the same checks as `service.create_post`, nothing stored.

Front ends call it as the user types, so it answers 200 with every problem rather than a 422,
and each target's counted length against its network's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands import service as brands_service
from t21.core.outside import Permanent
from t21.core.runtime import Runtime
from t21.organizations.permissions import Action
from t21.organizations.tenancy import Principal
from t21.platforms import registry
from t21.platforms.base import parse_options
from t21.platforms.text import text_length
from t21.posts.chain import network_options
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


async def validate_post(
    session: AsyncSession, runtime: Runtime, principal: Principal, fields: PostIn
) -> DryRun:
    """What `create_post` would refuse (its 422 `errors`) and warn about, for `fields`; a
    queued post looks at the next free slot without taking it."""
    brand = await brands_service.get_brand(
        session, principal, fields.brand_id, Action.WRITE_CONTENT
    )
    errors: list[dict[str, Any]] = []
    if fields.schedule == "queue":
        fields = await queue.with_next_slot(session, brand, fields, errors, take=False)
    errors += post_schedule_errors(fields)
    await ai_usage(session, brand.organization_id, fields.ai_call_id, errors)
    drafts, _ = await checked_content(
        session,
        runtime,
        principal,
        brand,
        fields.content,
        fields.media_ids,
        fields.targets,
        errors,
        raising=False,
    )
    warnings = (
        await quota_warnings(session, runtime.settings, brand.organization_id, len(fields.targets))
        if is_scheduling(fields) and fields.targets
        else []
    )
    return DryRun(errors=errors, warnings=warnings, targets=[_counted(d) for d in drafts])


def _counted(draft: TargetDraft) -> CountedTarget:
    """The target's text length and limit, on the surface its options pick when they are
    valid (an Instagram story, a Facebook reel), else the network's default one."""
    provider = registry.rules_provider(draft.platform)
    options = network_options(draft.platform, draft.options)
    try:
        parse_options(provider.options, options, provider.display_name)
        limits = provider.limits_for(options)
    except Permanent:
        limits = provider.limits
    length = text_length(draft.text, limits.text_counting)
    parts = (
        (length, *(text_length(text, limits.text_counting) for text, _ in draft.thread))
        if draft.thread
        else ()
    )
    return CountedTarget(draft=draft, length=length, limit=limits.max_text, part_lengths=parts)
