"""YouTube's rules, quota day and failure classes, without the network: how tags are counted,
when the daily quota resets (daylight saving included) and what each of YouTube's error
answers becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from t21.core.outside import Permanent, ReauthRequired, Retryable
from t21.platforms.youtube import YouTubeProvider
from t21.platforms.youtube.rules import tags_length
from t21.platforms.youtube.wire import failure, quota_day_start, quota_reset
from t21.sandbox.youtube import tags_length as fake_tags_length


def test_tags_count_commas_between_them_and_quotes_around_a_tag_with_a_space() -> None:
    # The reference's own example: "Foo-Baz" is 7 characters, "Foo Baz" 9.
    assert tags_length(["Foo-Baz"]) == 7
    assert tags_length(["Foo Baz"]) == 9
    assert tags_length(["a", "b c"]) == 1 + 1 + 5
    assert tags_length([]) == 0


@given(st.lists(st.text(alphabet="ab -", min_size=1, max_size=12), max_size=8))
def test_t21_and_the_fake_count_tags_alike(tags: list[str]) -> None:
    assert tags_length(tags) == fake_tags_length(tags)


def test_the_quota_day_starts_at_midnight_pacific_time() -> None:
    before = datetime(2026, 12, 6, 7, 59, tzinfo=UTC)  # 23:59 PST on the 5th
    assert quota_reset(before) == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert quota_day_start(before) == datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # PDT, UTC-7
    assert quota_reset(summer) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)


def test_the_budgets_day_is_23_hours_when_daylight_saving_starts() -> None:
    budget = YouTubeProvider.publish_budget
    assert budget is not None
    start, end = budget.period(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    assert start == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)
    start, end = budget.period(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    assert end - start == timedelta(hours=25)


def _answer(status: int, reason: str | None = None, headers: dict[str, str] | None = None) -> Any:
    body = (
        {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}}
        if reason
        else {}
    )
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "reason", "kind", "code"),
    [
        (403, "quotaExceeded", Retryable, "youtube_quota_exhausted"),
        (403, "rateLimitExceeded", Retryable, "rate_limited"),
        (429, None, Retryable, "rate_limited"),
        (400, "uploadLimitExceeded", Retryable, "upload_limit"),
        (401, "authError", ReauthRequired, "authError"),
        (403, "insufficientPermissions", ReauthRequired, "insufficientPermissions"),
        (401, "youtubeSignupRequired", ReauthRequired, "youtubeSignupRequired"),
        (400, "invalidTitle", Permanent, "invalidTitle"),
        (403, "forbidden", Permanent, "forbidden"),
        (503, "backendError", Retryable, "server_error"),
    ],
)
def test_each_youtube_error_is_classified_once(
    status: int, reason: str | None, kind: type[Exception], code: str
) -> None:
    classified = failure(_answer(status, reason), what="the upload")
    assert type(classified) is kind
    assert classified.code == code


def test_an_exhausted_quota_waits_for_the_reset_and_says_so() -> None:
    classified = failure(_answer(403, "quotaExceeded"), what="the upload")
    assert isinstance(classified, Retryable)
    assert classified.after is not None
    assert 0 < classified.after <= 25 * 3600
    assert "midnight Pacific time" in classified.message
