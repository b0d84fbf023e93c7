"""Email templates: durations read naturally whatever the configured lifetime."""

from __future__ import annotations

import pytest

from t21.core.settings import Settings
from t21.notifications.templates import duration, render_email


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (7 * 86400, "7 days"),
        (86400, "1 day"),
        (3600, "1 hour"),
        (5400, "1 hour"),
        (600, "10 minutes"),
        (59, "59 seconds"),
        (1, "1 second"),
    ],
)
def test_durations_use_the_largest_whole_unit(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_a_short_invitation_lifetime_is_not_zero_days(settings: Settings) -> None:
    rendered = render_email(
        "invitation",
        {
            "inviter": "Ann",
            "organization": "Acme",
            "role": "member",
            "link": "https://app.example.com/invitations/accept?token=t",
            "expires_in_s": 300,
        },
        settings,
    )
    assert "expires in 5 minutes" in rendered.text
    assert rendered.html is not None
    assert "expires in 5 minutes" in rendered.html
