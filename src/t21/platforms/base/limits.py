"""What a network accepts (`PlatformLimits`, its media rules), a target's options, and the
budgets and writing guidance an adapter gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from t21.core.outside import Permanent


class TextCounting(StrEnum):
    CHARACTERS = "characters"  # Unicode code points
    X_WEIGHTED = "x_weighted"  # twitter-text: URLs 23, emoji and CJK 2
    GRAPHEMES = "graphemes"
    # Threads: characters, except that each emoji counts as its UTF-8 bytes (4 for most).
    UTF8_EMOJI = "utf8_emoji"


@dataclass(frozen=True)
class MediaRule:
    """What one kind of media must be on a network."""

    content_types: frozenset[str]
    max_size_bytes: int
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_width: int | None = None
    max_width: int | None = None


@dataclass(frozen=True)
class PlatformLimits:
    max_text: int
    text_counting: TextCounting
    requires_media: bool
    max_images: int
    max_videos: int
    # Whether images and a video may share a post.
    mixed_media: bool
    image: MediaRule | None
    video: MediaRule | None
    # The fewest images of a multi-image post, where the network has a minimum (LinkedIn 2).
    min_multi_images: int = 1
    notes: tuple[str, ...] = ()


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: dict[str, Any], network: str) -> OptionsT:
    """A target's options as `model`, or `Permanent` saying what is wrong with them."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors()
        )
        raise Permanent(f"Invalid {network} options: {problems}", code="invalid_options") from None


@dataclass(frozen=True)
class Budget:
    """How many posts one account may publish in a window at the network, so T21 waits its
    turn rather than collecting 429s (a wait is a later `due_at`, never a sleep)."""

    posts: int
    window: timedelta
    # Whose budget it is: one account's, or T21's own app's at the network, every account's
    # publications together (YouTube's daily quota belongs to T21's Google Cloud project).
    shared: bool = False
    # A calendar budget: the start of the period `at` falls in (YouTube's day starts at midnight
    # Pacific time); publications are counted since then and a wait lasts until the next period
    # (`period_start(at + window)`). None: a rolling `window`.
    period_start: Callable[[datetime], datetime] | None = None
    # Why an attempt waits, in words for a person, kept on the target with `code`; None: the
    # wait says nothing (a short rolling budget).
    reason: str | None = None
    code: str = "budget"

    def period(self, at: datetime) -> tuple[datetime, datetime]:
        """The window a publication at `at` counts in, and when it ends."""
        if self.period_start is None:
            return at - self.window, at
        start = self.period_start(at)
        return start, self.period_start(start + self.window + timedelta(hours=2))


@dataclass(frozen=True)
class Writing:
    """How a good post reads at the network, for the AI prompts: its norms in a sentence or two
    and the length a good post has there (the prompts aim under the limit anyway)."""

    norms: str
    typical_length: int
