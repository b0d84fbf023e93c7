"""Checking each target of a post against its network before the post is accepted.

Every problem becomes one entry of a 422's `errors`, naming the target (its index, account and
network) and the rule, so a client can show it next to the right field.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from t21.core.outside import Permanent
from t21.platforms import registry
from t21.platforms.base import MediaItem, PublishRequest, parse_options
from t21.platforms.rules import Violation, violations

# Rules about the text point at the target's content; rules about one media item at the post's
# media list; the rest at the target as a whole.
TEXT_RULES = frozenset({"text_too_long", "empty"})


@dataclass(frozen=True)
class TargetDraft:
    """One target as it will be: its index in the request, account, text and options."""

    index: int
    social_account_id: uuid.UUID
    platform: str
    text: str
    options: dict[str, Any]


def error(loc: Sequence[str | int], message: str, **extra: Any) -> dict[str, Any]:
    return {"loc": list(loc), "msg": message, **extra}


def target_errors(target: TargetDraft, media: Sequence[MediaItem]) -> list[dict[str, Any]]:
    """Every rule of the target's network that the target breaks, as 422 `errors` entries."""
    provider = registry.rules_provider(target.platform)
    network = provider.display_name
    where: list[str | int] = ["body", "targets", target.index]
    about: dict[str, Any] = {
        "target": target.index,
        "social_account_id": str(target.social_account_id),
        "platform": target.platform,
    }
    try:
        parse_options(provider.options, target.options, network)
    except Permanent as failure:
        return [error([*where, "options"], failure.message, rule="invalid_options", **about)]
    found = violations(provider.limits_for(target.options), network, target.text, media)
    if not found:
        try:
            provider.check(
                PublishRequest(text=target.text, media=list(media), options=target.options)
            )
        except Permanent as failure:
            found = [Violation(failure.code or "not_accepted", failure.message)]
    return [
        error(_loc(where, violation), violation.message, rule=violation.rule, **about)
        for violation in found
    ]


def _loc(where: list[str | int], violation: Violation) -> list[str | int]:
    if violation.media_index is not None:
        return ["body", "media_ids", violation.media_index]
    if violation.rule in TEXT_RULES:
        return [*where, "content"]
    return where
