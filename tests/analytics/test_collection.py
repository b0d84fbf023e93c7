"""The collection loop and its jobs, against the sandbox networks over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from t21.analytics.collection import claim_due_targets
from t21.analytics.tasks import collect_metrics_of
from t21.core import clock
from t21.core.uow import session_scope
from t21.social.models import AccountStatus, SocialAccount
from t21.worker.jobs import registered_jobs
from t21.worker.loops import registered_loops
from tests.analytics.conftest import Studio


async def test_each_collection_appends_a_snapshot_and_leaves_the_earlier_ones_as_they_were(
    studio: Studio,
) -> None:
    post = await studio.publish("twitter")
    studio.set_x_metrics(
        post, impression_count=100, like_count=7, reply_count=2, retweet_count=1, quote_count=1
    )

    assert await studio.collect() == 1
    [first] = await studio.snapshots(post)
    assert first["impressions"] == 100
    assert (first["likes"], first["comments"], first["shares"]) == (7, 2, 2)
    assert first["platform"] == "twitter"
    assert str(first["post_id"]) == post.post_id
    # The next collection is the schedule's first: an hour after publishing.
    target = await studio.target(post)
    assert target.next_collect_at == post.published_at + timedelta(hours=1)

    studio.set_x_metrics(post, impression_count=250, like_count=20)
    await studio.due(post)
    assert await studio.collect() == 1
    earlier, latest = await studio.snapshots(post)
    assert earlier == first
    assert (latest["impressions"], latest["likes"]) == (250, 20)
    assert latest["collected_at"] >= first["collected_at"]


async def test_nothing_is_claimed_before_it_is_due(studio: Studio) -> None:
    post = await studio.publish("twitter")
    assert await studio.collect() == 1
    assert await studio.collect() == 0
    assert len(await studio.snapshots(post)) == 1


async def test_no_data_yet_adds_no_row_and_keeps_the_schedule(studio: Studio) -> None:
    post = await studio.publish("linkedin")

    assert await studio.collect() == 1
    assert await studio.snapshots(post) == []
    target = await studio.target(post)
    assert target.next_collect_at == post.published_at + timedelta(hours=1)

    studio.set_linkedin_analytics(post, IMPRESSION=40, MEMBERS_REACHED=30, REACTION=4)
    await studio.due(post)
    await studio.collect()
    [snapshot] = await studio.snapshots(post)
    assert (snapshot["impressions"], snapshot["reach"], snapshot["likes"]) == (40, 30, 4)
    assert snapshot["saves"] is None


async def test_an_accounts_targets_are_fetched_in_one_call(studio: Studio) -> None:
    posts = [await studio.publish("twitter") for _ in range(3)]
    before = len(studio.world.control("twitter", "GET", "/requests")["requests"])

    assert await studio.collect() == 3

    lookups = [
        request
        for request in studio.world.control("twitter", "GET", "/requests")["requests"][before:]
        if request["method"] == "GET" and request["path"] == "/2/tweets"
    ]
    # One lookup of public numbers, one of the non-public ones (the posts are under 30 days).
    assert len(lookups) == 2
    for post in posts:
        assert all(post.external_id in lookup["query"] for lookup in lookups)
        assert len(await studio.snapshots(post)) == 1


async def test_a_retryable_failure_tries_again_shortly_without_losing_the_target(
    studio: Studio,
) -> None:
    post = await studio.publish("twitter")
    studio.fault("twitter", status=503, method="GET", path="^/2/tweets$", headers={})

    started = clock.now()
    await studio.collect()

    assert await studio.snapshots(post) == []
    target = await studio.target(post)
    assert target.next_collect_at is not None
    assert started + timedelta(seconds=30) <= target.next_collect_at
    assert target.next_collect_at <= clock.now() + timedelta(hours=1)

    await studio.due(post)
    await studio.collect()
    assert len(await studio.snapshots(post)) == 1
    target = await studio.target(post)
    assert target.next_collect_at == post.published_at + timedelta(hours=1)


async def test_a_rate_limit_waits_as_long_as_the_network_asks(studio: Studio) -> None:
    post = await studio.publish("twitter")
    studio.fault(
        "twitter", status=429, method="GET", path="^/2/tweets$", headers={"retry-after": "600"}
    )

    started = clock.now()
    await studio.collect()

    target = await studio.target(post)
    assert target.next_collect_at is not None
    assert target.next_collect_at >= started + timedelta(seconds=590)
    assert await studio.snapshots(post) == []


async def test_a_post_deleted_at_the_network_stops_collecting_and_its_neighbours_go_on(
    studio: Studio,
) -> None:
    gone = await studio.publish("twitter")
    kept = await studio.publish("twitter")
    # X refuses any lookup that names the deleted post: the whole batch, then that post alone.
    studio.fault(
        "twitter", status=400, method="GET", path="^/2/tweets$", query=gone.external_id, count=2
    )

    await studio.collect()

    assert (await studio.target(gone)).next_collect_at is None
    assert await studio.snapshots(gone) == []
    assert len(await studio.snapshots(kept)) == 1
    assert (await studio.target(kept)).next_collect_at is not None


async def test_refused_tokens_postpone_collection_without_marking_the_account(
    studio: Studio,
) -> None:
    post = await studio.publish("twitter")
    studio.fault("twitter", status=401, method="GET", path="^/2/tweets$")

    await studio.collect()

    target = await studio.target(post)
    assert target.next_collect_at is not None
    assert target.next_collect_at >= clock.now() + timedelta(hours=5)
    async with session_scope(studio.world.runtime) as session:
        account = await session.get(SocialAccount, uuid.UUID(await studio.account("twitter")))
        assert account is not None
        assert account.status is AccountStatus.ACTIVE


async def test_an_account_to_reconnect_is_passed_by_until_it_is_active_again(
    studio: Studio,
) -> None:
    post = await studio.publish("twitter")
    account_id = uuid.UUID(await studio.account("twitter"))

    async def set_status(status: AccountStatus) -> None:
        async with session_scope(studio.world.runtime) as session:
            await session.execute(
                update(SocialAccount).where(SocialAccount.id == account_id).values(status=status)
            )

    await set_status(AccountStatus.REAUTH_REQUIRED)
    assert await studio.collect() == 0
    target = await studio.target(post)
    assert target.next_collect_at == post.published_at

    await set_status(AccountStatus.ACTIVE)
    assert await studio.collect() == 1
    assert len(await studio.snapshots(post)) == 1


async def test_collection_stops_once_the_post_is_older_than_the_window(studio: Studio) -> None:
    long_ago = clock.now() - timedelta(days=studio.world.runtime.settings.analytics_max_age_days)
    post = await studio.publish("twitter", at=long_ago - timedelta(days=1))

    await studio.collect()

    # The last numbers are kept; nothing more is asked for.
    assert len(await studio.snapshots(post)) == 1
    assert (await studio.target(post)).next_collect_at is None


async def test_a_target_whose_account_was_removed_stops_collecting(studio: Studio) -> None:
    post = await studio.publish("twitter")
    async with session_scope(studio.world.runtime) as session:
        account = await session.get(SocialAccount, uuid.UUID(await studio.account("twitter")))
        await session.delete(account)

    assert await studio.collect() == 0
    assert (await studio.target(post)).next_collect_at is None


async def test_a_job_whose_claim_was_taken_again_writes_nothing(studio: Studio) -> None:
    post = await studio.publish("twitter")
    # A job that ran late: its claim ran out and another claim (another moment) holds the target.
    await collect_metrics_of.run(
        account_id=await studio.account("twitter"),
        target_ids=[post.target_id],
        claimed_until=(clock.now() + timedelta(minutes=3)).isoformat(),
    )

    assert await studio.snapshots(post) == []
    assert (await studio.target(post)).next_collect_at == post.published_at


def test_the_collection_loop_is_registered_where_every_process_imports_it() -> None:
    import t21.tasks  # noqa: F401  (what every process imports before its queue starts)

    assert "analytics.collect" in registered_loops()
    assert "analytics.collect_account" in registered_jobs()


@pytest.mark.postgres
async def test_claims_running_at_once_take_disjoint_targets(studio: Studio) -> None:
    published = [await studio.publish("twitter") for _ in range(4)]
    sessions = studio.world.runtime.sessionmaker
    async with sessions() as first, sessions() as second:
        # The first claim holds its rows (uncommitted) while the second one runs.
        one = await claim_due_targets(first, limit=2)
        other = await claim_due_targets(second, limit=10)
        await first.commit()
        await second.commit()

    taken = [set(claim.by_account[next(iter(claim.by_account))]) for claim in (one, other)]
    assert [len(ids) for ids in taken] == [2, 2]
    assert not taken[0] & taken[1]
    assert taken[0] | taken[1] == {uuid.UUID(post.target_id) for post in published}


async def test_tokens_about_to_expire_are_refreshed_before_collecting(studio: Studio) -> None:
    post = await studio.publish("twitter")
    account_id = uuid.UUID(await studio.account("twitter"))
    async with session_scope(studio.world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            .values(
                token_expires_at=clock.now() + timedelta(seconds=60),
                refresh_due_at=clock.now() - timedelta(seconds=1),
            )
        )

    await studio.collect()

    assert len(await studio.snapshots(post)) == 1
    async with session_scope(studio.world.runtime) as session:
        account = await session.get(SocialAccount, account_id)
        assert account is not None
        assert account.last_refreshed_at is not None
        assert account.token_expires_at is not None
        assert account.token_expires_at > clock.now() + timedelta(minutes=30)


async def test_linkedin_numbers_without_the_analytics_scope_are_skipped_with_the_reason(
    studio: Studio,
) -> None:
    post = await studio.publish("linkedin")
    studio.set_linkedin_analytics(post, IMPRESSION=40)
    account_id = uuid.UUID(await studio.account("linkedin"))
    # Connected with what a new LinkedIn app gets: no r_member_postAnalytics.
    async with session_scope(studio.world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            .values(scopes=["email", "openid", "profile", "w_member_social"])
        )
    before = len(studio.world.control("linkedin", "GET", "/requests")["requests"])

    assert await studio.collect() == 1

    assert await studio.snapshots(post) == []
    requests = studio.world.control("linkedin", "GET", "/requests")["requests"][before:]
    assert not [r for r in requests if r["path"] == "/rest/memberCreatorPostAnalytics"]
    async with session_scope(studio.world.runtime) as session:
        account = await session.get(SocialAccount, account_id)
        assert account is not None
        assert account.status.value == "active"  # posting still works
        assert account.metrics_unavailable is not None
        assert "r_member_postAnalytics" in account.metrics_unavailable
    target = await studio.target(post)
    assert target.next_collect_at is not None
    assert target.next_collect_at > clock.now() + timedelta(hours=5)
    # Reconnected with the permission: collected again, and the reason is gone.
    async with session_scope(studio.world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == account_id)
            .values(scopes=["openid", "profile", "r_member_postAnalytics", "w_member_social"])
        )
    await studio.due(post)
    assert await studio.collect() == 1
    assert len(await studio.snapshots(post)) == 1
    async with session_scope(studio.world.runtime) as session:
        account = await session.get(SocialAccount, account_id)
        assert account is not None
        assert account.metrics_unavailable is None
