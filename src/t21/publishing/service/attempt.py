"""One publishing attempt: what it publishes (`Attempt`, taken by the claim), how it is sent to
its network (`attempt_outcome`, which classifies whatever happened and never raises), and what
content its saved progress belongs to."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from t21.core import clock
from t21.core.errors import T21Error
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, OutsideFailure, Retryable
from t21.core.runtime import Runtime
from t21.media.models import MediaAsset
from t21.media.service import media_item
from t21.platforms.base import Continuing, Credentials, Provider, Published, PublishRequest
from t21.platforms.registry import configured_provider, sandbox_url
from t21.posts.chain import Step
from t21.publishing import threads
from t21.social.tokens import (
    held_credentials,
    refresh_account,
)

log = get_logger("t21.publishing")

# An attempt gives up waiting for the network this long before its lease ends, so it can still
# record what happened before the reaper steps in.
LEASE_MARGIN = timedelta(seconds=30)


# What an attempt ends with: the network published, is still working on it, or failed.
Outcome = Published | Continuing | OutsideFailure


@dataclass(frozen=True)
class Attempt:
    """A target held by one publishing attempt, with what it publishes."""

    target_id: uuid.UUID
    attempt_id: str
    post_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    text: str
    options: dict[str, Any]
    media: list[MediaAsset] = field(default_factory=list)
    started_at: datetime = field(default_factory=clock.now)
    due_at: datetime | None = None
    # What an earlier attempt left at the network for this same content (see `Continuing`).
    progress: dict[str, Any] = field(default_factory=dict)
    # The account's tokens when they were fresh at the claim; None: refreshed before sending.
    credentials: Credentials | None = field(default=None, repr=False)
    # The step of a thread (or the first comment) this attempt sends; None for a lone post.
    step: Step | None = None


def content_fingerprint(text: str, options: dict[str, Any], media: list[MediaAsset]) -> str:
    """What a publication is made of: progress left at the network for other content (the post
    was edited meanwhile) must not be resumed."""
    made_of = {"text": text, "options": options, "media": [str(asset.id) for asset in media]}
    encoded = json.dumps(made_of, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()


def resumable(saved: dict[str, Any] | None, fingerprint: str) -> dict[str, Any]:
    """The progress an attempt resumes from: the saved one if it was made for this content."""
    if not saved or saved.get("for") != fingerprint or not isinstance(saved.get("state"), dict):
        return {}
    state: dict[str, Any] = saved["state"]
    return state


async def attempt_outcome(runtime: Runtime, attempt: Attempt) -> tuple[Attempt, Outcome]:
    """Send the attempt to its network; what happened, classified (never raises). It ends
    before the attempt's lease does (counted from its claim), leaving the margin to record it."""
    outcome: Outcome
    lease = runtime.settings.publish_lease_s - LEASE_MARGIN.total_seconds()
    waited = (clock.now() - attempt.started_at).total_seconds()
    if waited >= 1.0 and lease - waited < 1.0:
        # It waited its lease away behind the account's other attempts: nothing was sent.
        return attempt, Retryable("Publishing waited too long for its turn.", after=10)
    deadline = max(1.0, lease - waited)
    sent = False
    try:
        async with asyncio.timeout(deadline):
            held = attempt.credentials
            if held is None:
                account = await refresh_account(runtime, attempt.account_id)
                held = held_credentials(runtime, account)
            provider = attempt_provider(runtime, attempt.platform)
            request = PublishRequest(
                text=attempt.text,
                media=[media_item(runtime, asset) for asset in attempt.media],
                options=attempt.options,
                progress=attempt.progress,
                key=threads.attempt_key(attempt.target_id, attempt.step),
            )
            sent = True
            outcome = await threads.send(provider, held, request, attempt.step)
    except OutsideFailure as failure:
        outcome = failure
    except TimeoutError:
        outcome = (
            Ambiguous("The network took too long to answer; T21 is checking whether it posted.")
            if sent
            else Retryable("Getting ready to publish took too long.", after=60)
        )
    except T21Error as error:
        # The network isn't configured in this process: nothing was sent.
        outcome = Retryable(error.detail, after=300, code=error.code)
    except Exception:
        log.exception("publishing failed unexpectedly", target_id=str(attempt.target_id))
        outcome = (
            Ambiguous("Publishing was interrupted; T21 is checking whether it posted.")
            if sent
            else Retryable("Publishing failed unexpectedly before anything was sent.", after=60)
        )
    return attempt, outcome


def attempt_provider(runtime: Runtime, platform: str) -> Provider:
    """The provider of `platform` as this process reaches it, built once per configuration:
    providers hold only their configuration (each operation opens its own HTTP client)."""
    cache: dict[tuple[str, int, str | None], Provider] = runtime.state.setdefault(
        "publishing_providers", {}
    )
    key = (platform, id(runtime.settings), sandbox_url(runtime))
    found = cache.get(key)
    if found is None:
        found = cache[key] = configured_provider(runtime, platform)
    return found
