"""Token care: refreshed ahead of expiry (rotating refresh tokens stored at once), one refresh
per account however many ask, and a refusal marks the account and tells its admins once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import update

from t21.core import clock
from t21.core.uow import session_scope
from t21.social import tokens
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import credentials, refresh_account
from t21.worker.loops import LoopRunner
from tests.core.test_http import assert_problem
from tests.social.conftest import World
from tests.support.accounts import emails_to


def _token_calls(world: World, network: str, path: str) -> int:
    return sum(
        1
        for request in world.control(network, "GET", "/requests")["requests"]
        if request["method"] == "POST" and request["path"].endswith(path)
    )


async def _account(world: World, account_id: uuid.UUID) -> SocialAccount:
    async with session_scope(world.runtime) as session:
        account = await session.get(SocialAccount, account_id)
    assert account is not None
    return account


async def _expire_soon(world: World, account_id: uuid.UUID) -> None:
    async with session_scope(world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            # As an account sealed before due times were kept: due the least margin before.
            .values(token_expires_at=clock.now() + timedelta(seconds=60), refresh_due_at=None)
        )


async def test_a_rotating_refresh_token_is_stored_at_once(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    account_id = uuid.UUID(raw_id)
    before = credentials(world.runtime.settings, await _account(world, account_id))
    refreshed = await refresh_account(world.runtime, account_id, force=True)
    after = credentials(world.runtime.settings, refreshed)
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    # The old refresh token is dead at the network; the stored one still works.
    again = await refresh_account(world.runtime, account_id, force=True)
    assert again.status is AccountStatus.ACTIVE


async def test_a_fresh_token_is_left_alone(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    calls = _token_calls(world, "tiktok", "/v2/oauth/token/")
    await refresh_account(world.runtime, uuid.UUID(raw_id))
    assert _token_calls(world, "tiktok", "/v2/oauth/token/") == calls


async def test_concurrent_refreshes_make_one_call_to_the_network(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    account_id = uuid.UUID(raw_id)
    await _expire_soon(world, account_id)
    calls = _token_calls(world, "tiktok", "/v2/oauth/token/")
    results = await asyncio.gather(*(refresh_account(world.runtime, account_id) for _ in range(6)))
    assert _token_calls(world, "tiktok", "/v2/oauth/token/") == calls + 1
    tokens = {credentials(world.runtime.settings, account).access_token for account in results}
    assert len(tokens) == 1


async def test_concurrent_forced_refreshes_through_the_api_make_one_call(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    calls = _token_calls(world, "tiktok", "/v2/oauth/token/")
    # The network answers slowly, so every request arrives while the first refresh is on its way.
    world.control(
        "tiktok",
        "POST",
        "/faults",
        {"status": 200, "path": "/v2/oauth/token/", "lose_response": True, "delay_s": 0.5},
    )
    answers = await asyncio.gather(
        *(
            world.api.post(f"/api/v1/social-accounts/{raw_id}/refresh", headers=world.owner.headers)
            for _ in range(4)
        )
    )
    assert {answer.status_code for answer in answers} == {200}
    assert _token_calls(world, "tiktok", "/v2/oauth/token/") == calls + 1


async def test_a_refused_refresh_marks_the_account_and_emails_admins_once(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    account_id = uuid.UUID(raw_id)
    world.control("tiktok", "POST", "/tokens/revoke", {})
    for _ in range(2):
        answer = await world.api.post(
            f"/api/v1/social-accounts/{raw_id}/refresh", headers=world.owner.headers
        )
        assert answer.status_code == 200
        assert answer.json()["status"] == "reauth_required"
        assert answer.json()["last_error"]
    await world.drain()
    notices = [
        message
        for message in emails_to(world.runtime.settings, world.owner.email)
        if "Reconnect your TikTok account" in str(message["Subject"])
    ]
    assert len(notices) == 1
    account = await _account(world, account_id)
    assert account.status is AccountStatus.REAUTH_REQUIRED
    # Reconnecting brings it back, and a later disconnection would be told again.
    await world.connected_ids("tiktok")
    account = await _account(world, account_id)
    assert account.status is AccountStatus.ACTIVE
    assert account.reauth_notified_at is None


async def test_the_loop_refreshes_what_expires_soon(world: World) -> None:
    [raw_id] = await world.connected_ids("tiktok")
    account_id = uuid.UUID(raw_id)
    before = (await _account(world, account_id)).access_token_encrypted
    await _expire_soon(world, account_id)
    runner = world.runtime.state["loops"]
    assert isinstance(runner, LoopRunner)
    assert await runner.run_once("social.refresh_tokens") == 1
    await world.drain()
    account = await _account(world, account_id)
    assert account.access_token_encrypted != before
    assert account.token_expires_at is not None
    assert account.token_expires_at > clock.now() + timedelta(hours=1)
    assert await runner.run_once("social.refresh_tokens") == 0


async def test_refreshing_someone_elses_account_is_not_found(world: World) -> None:
    from tests.support.accounts import register

    [raw_id] = await world.connected_ids("tiktok")
    stranger = await register(world.api)
    answer = await world.api.post(
        f"/api/v1/social-accounts/{raw_id}/refresh", headers=stranger.headers
    )
    assert_problem(answer, 404, "not_found")


# --- refreshed in time: a share of each token's life ------------------------------------------


async def test_each_token_is_due_a_share_of_its_life_before_it_expires(world: World) -> None:
    [x_id] = await world.connected_ids("twitter")
    [instagram_id] = await world.connected_ids("instagram")
    x = await _account(world, uuid.UUID(x_id))
    instagram = await _account(world, uuid.UUID(instagram_id))
    assert x.token_expires_at is not None
    assert instagram.token_expires_at is not None
    # X's 2-hour token: a fifth of its life, 24 minutes before (not 15 minutes).
    assert x.refresh_due_at == x.token_expires_at - timedelta(minutes=24)
    # Instagram's 60-day token can't be refreshed once expired: a week before, not minutes.
    assert instagram.refresh_due_at == instagram.token_expires_at - timedelta(days=7)


async def test_the_sweep_refreshes_a_60_day_token_days_before_it_would_expire(
    world: World,
) -> None:
    world.control("instagram", "POST", "/config", {"refresh_min_age_s": 0})
    [raw_id] = await world.connected_ids("instagram")
    account_id = uuid.UUID(raw_id)
    before = await _account(world, account_id)
    assert before.token_expires_at is not None
    runner = world.runtime.state["loops"]
    assert isinstance(runner, LoopRunner)
    with clock.frozen(before.token_expires_at - timedelta(days=8)):
        assert await runner.run_once("social.refresh_tokens") == 0
    six_days_left = before.token_expires_at - timedelta(days=6)
    with clock.frozen(six_days_left):
        assert await runner.run_once("social.refresh_tokens") == 1
        await world.drain()
        # Claimed once: the sweep doesn't hand the same account out twice.
        assert await runner.run_once("social.refresh_tokens") == 0
    after = await _account(world, account_id)
    assert after.access_token_encrypted != before.access_token_encrypted
    assert after.last_refreshed_at == six_days_left
    assert after.token_expires_at == six_days_left + timedelta(days=60)


async def test_an_x_token_is_refreshed_minutes_before_its_two_hours_end(world: World) -> None:
    [raw_id] = await world.connected_ids("twitter")
    account_id = uuid.UUID(raw_id)
    before = await _account(world, account_id)
    assert before.token_expires_at is not None
    runner = world.runtime.state["loops"]
    assert isinstance(runner, LoopRunner)
    with clock.frozen(before.token_expires_at - timedelta(minutes=30)):
        assert await runner.run_once("social.refresh_tokens") == 0
    with clock.frozen(before.token_expires_at - timedelta(minutes=20)):
        assert await runner.run_once("social.refresh_tokens") == 1
        await world.drain()
    after = await _account(world, account_id)
    assert after.access_token_encrypted != before.access_token_encrypted


async def test_a_token_that_cannot_be_refreshed_warns_the_owners_once_before_it_dies(
    world: World,
) -> None:
    # LinkedIn gives refresh tokens to approved partners only: a 60-day token, then nothing.
    world.control("linkedin", "POST", "/settings", {"partner_mode": False})
    [raw_id] = await world.connected_ids("linkedin")
    account_id = uuid.UUID(raw_id)
    connected = await _account(world, account_id)
    assert connected.refresh_token_encrypted is None
    assert connected.token_expires_at is not None
    expires = connected.token_expires_at
    runner = world.runtime.state["loops"]
    assert isinstance(runner, LoopRunner)
    with clock.frozen(expires - timedelta(days=6)):
        assert await runner.run_once("social.refresh_tokens") == 1
        await world.drain()
        assert await runner.run_once("social.refresh_tokens") == 0
    with clock.frozen(expires - timedelta(days=1)):
        assert await runner.run_once("social.refresh_tokens") == 0
    warned = await _account(world, account_id)
    assert warned.status is AccountStatus.ACTIVE
    assert warned.expiry_warned_at is not None
    assert warned.refresh_due_at == expires
    notices = [
        message
        for message in emails_to(world.runtime.settings, world.owner.email)
        if "before" in str(message["Subject"]) and "LinkedIn" in str(message["Subject"])
    ]
    assert len(notices) == 1
    body = notices[0].get_body(("plain",))
    assert body is not None
    assert "doesn't let" in body.get_content()
    # At its expiry the sweep finds it dead: the account needs reconnecting (told once more).
    with clock.frozen(expires + timedelta(minutes=1)):
        assert await runner.run_once("social.refresh_tokens") == 1
        await world.drain()
    dead = await _account(world, account_id)
    assert dead.status is AccountStatus.REAUTH_REQUIRED
    assert len(
        [m for m in emails_to(world.runtime.settings, world.owner.email)
         if "before" in str(m["Subject"])]
    ) == 1  # fmt: skip


async def test_a_refresh_token_ending_before_the_next_refresh_warns_the_owners_once(
    world: World,
) -> None:
    # LinkedIn's partner refresh tokens end 365 days after the first sign-in, refreshes or not.
    [raw_id] = await world.connected_ids("linkedin")
    account_id = uuid.UUID(raw_id)
    world.control("linkedin", "POST", "/refresh-tokens/age", {"days": 330})
    refreshed = await refresh_account(world.runtime, account_id, force=True)
    assert refreshed.refresh_expires_at is not None
    assert refreshed.token_expires_at is not None
    assert refreshed.refresh_expires_at < refreshed.token_expires_at
    assert refreshed.expiry_warned_at is not None
    await refresh_account(world.runtime, account_id, force=True)
    await world.drain()
    notices = [
        message
        for message in emails_to(world.runtime.settings, world.owner.email)
        if "before" in str(message["Subject"]) and "LinkedIn" in str(message["Subject"])
    ]
    assert len(notices) == 1


async def test_a_refresh_that_finished_after_the_accounts_read_is_not_claimed_again(
    world: World,
) -> None:
    """The race behind two refreshes of one account: a caller reads the account, another's
    refresh finishes (the network rotating the refresh token), then the first claims the
    refresh with the refresh token it read, already spent. Its claim must fail: it then reads
    again and finds the refresh done."""
    [raw_id] = await world.connected_ids("tiktok")
    account_id = uuid.UUID(raw_id)
    async with session_scope(world.runtime) as session:
        stale = await session.get(SocialAccount, account_id)
        assert stale is not None
        session.expunge(stale)
    await refresh_account(world.runtime, account_id, force=True)
    async with session_scope(world.runtime) as session:
        assert not await tokens._claim(session, stale, clock.now())
        fresh = await session.get(SocialAccount, account_id, populate_existing=True)
        assert fresh is not None
        assert await tokens._claim(session, fresh, clock.now())
