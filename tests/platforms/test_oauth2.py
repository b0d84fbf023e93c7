"""The token answers every OAuth 2.0 network shares (`t21.platforms.oauth2`), as Pinterest's and
TikTok's token endpoints write them."""

from __future__ import annotations

import pytest

from t21.core.outside import ReauthRequired, Retryable
from t21.platforms.base import Credentials, TokenGrant
from t21.platforms.oauth2 import grant_of, refresh_form, require_scopes


def test_pinterests_answer_gives_its_rotated_refresh_token_and_its_lifetime() -> None:
    body = {
        "access_token": "pina_a",
        "refresh_token": "pinr_b",
        "expires_in": 2592000,
        "refresh_token_expires_in": 5184000,
        "scope": "boards:read,pins:write user_accounts:read",
    }
    grant = grant_of(body, network="Pinterest", what="the code",
                     refresh_lifetime="refresh_token_expires_in")  # fmt: skip
    assert grant == TokenGrant(
        access_token="pina_a",
        refresh_token="pinr_b",
        expires_in=2592000,
        refresh_expires_in=5184000,
        scopes=frozenset({"boards:read", "pins:write", "user_accounts:read"}),
    )


def test_tiktoks_answer_may_send_lifetimes_as_digit_strings() -> None:
    body = {"access_token": "act.x", "expires_in": "86400", "refresh_expires_in": 31536000,
            "scope": "user.info.basic,video.publish"}  # fmt: skip
    grant = grant_of(body, network="TikTok", what="the refresh")
    assert (grant.expires_in, grant.refresh_expires_in) == (86400, 31536000)
    assert grant.refresh_token is None  # none given: the stored one is kept
    assert grant.scopes == {"user.info.basic", "video.publish"}


@pytest.mark.parametrize("body", [{}, {"access_token": ""}, {"access_token": 5}, ["x"], None])
def test_an_answer_without_an_access_token_is_worth_another_try(body: object) -> None:
    with pytest.raises(Retryable) as caught:
        grant_of(body, network="TikTok", what="the refresh")
    assert caught.value.code == "no_token"
    assert "TikTok answered the refresh" in caught.value.message


def test_refreshing_without_a_refresh_token_needs_the_person() -> None:
    without = Credentials(access_token="a", external_id="1")
    with pytest.raises(ReauthRequired) as caught:
        refresh_form(without, "Pinterest")
    assert caught.value.code == "no_refresh_token"
    held = Credentials(access_token="a", external_id="1", refresh_token="r")
    assert refresh_form(held, "Pinterest") == {"grant_type": "refresh_token", "refresh_token": "r"}


def test_a_sign_in_without_a_needed_scope_names_what_is_missing() -> None:
    grant = TokenGrant(access_token="a", scopes=frozenset({"pins:read"}))
    with pytest.raises(ReauthRequired) as caught:
        require_scopes(grant, frozenset({"pins:read", "pins:write", "boards:read"}), "Pinterest")
    assert caught.value.code == "scope_missing"
    assert "(boards:read, pins:write)" in caught.value.message
    require_scopes(grant, frozenset({"pins:read"}), "Pinterest")
