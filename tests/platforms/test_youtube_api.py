"""YouTube through T21's API against the sandbox's fake over HTTP: connecting a channel with
Google's OAuth, checking a video's options when the post is written, and uploading it with the
resumable protocol over several attempts, resumed (never restarted) after a failure or a dead
worker, with the project's daily quota, a revoked grant and metrics."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from t21.analytics.models import MetricSnapshot
from t21.core import clock
from t21.core.tls import tls_context
from t21.core.uow import session_scope
from t21.platforms.youtube import YouTubeProvider
from t21.platforms.youtube.wire import quota_reset
from t21.posts.models import PostTarget
from tests.core.test_http import assert_problem
from tests.media.files import _box, mp4
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import World, query, sandbox, world  # noqa: F401  (fixtures)

SCOPE = "https://www.googleapis.com/auth/"
CHUNK = 256 * 1024
OPTIONS = {"title": "Launch day", "privacy": "public", "tags": ["launch", "t21"]}


def big_mp4(size: int, width: int = 1280, height: int = 720, duration_s: float = 12.5) -> bytes:
    """An MP4 of about `size` bytes (a `free` box pads it), so it goes up in several chunks."""
    body = mp4(duration_s=duration_s, width=width, height=height)
    return body + _box(b"free", b"\x00" * max(0, size - len(body) - 8))


async def connected(world: World) -> dict[str, Any]:  # noqa: F811
    [account_id] = await world.connected_ids("youtube")
    read = await world.api.get(f"/api/v1/social-accounts/{account_id}", headers=world.owner.headers)
    assert read.status_code == 200, read.text
    return dict(read.json())


async def video(engine: Engine, data: bytes) -> str:  # noqa: F811
    uploaded = await engine.api.post(
        "/api/v1/media",
        data={"brand_id": engine.brand_id},
        files={"file": ("clip.mp4", data, "video/mp4")},
        headers=engine.owner.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    return str(uploaded.json()["id"])


async def publish(
    engine: Engine,  # noqa: F811
    account_id: str,
    content: str,
    media_ids: list[str],
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    target = {"social_account_id": account_id, "options": options or OPTIONS}
    post = (await engine.create(content=content, targets=[target], media_ids=media_ids)).json()
    started = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert started.status_code == 202, started.text
    return dict(started.json())


async def until_settled(engine: Engine, post_id: str, ticks: int = 12) -> dict[str, Any]:  # noqa: F811
    """Ticks until the post's target is no longer on its way (each tick sends one slice)."""
    for _ in range(ticks):
        await engine.tick()
        target = (await engine.read(post_id))["targets"][0]
        if target["status"] not in ("queued", "publishing", "retrying", "scheduled"):
            return dict(target)
        if target["status"] == "retrying" and target["last_error"]["code"] != "in_progress":
            return dict(target)
    return dict((await engine.read(post_id))["targets"][0])


def sessions(world: World) -> list[dict[str, Any]]:  # noqa: F811
    return list(world.control("youtube", "GET", "/sessions")["sessions"])


def contiguous(session: dict[str, Any]) -> bool:
    """Each range starts right after the one before: no byte was sent twice or skipped."""
    expected = 0
    for start, end in session["ranges"]:
        if start != expected:
            return False
        expected = end + 1
    return bool(expected == session["received"] and session["resent"] == [])


async def test_a_channel_connects_with_offline_access_and_incremental_consent(
    world: World,  # noqa: F811
) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "youtube"},
        headers=world.owner.headers,
    )
    url = started.json()["authorization_url"]
    asked = query(url)
    assert asked["access_type"] == "offline"
    assert asked["include_granted_scopes"] == "true"
    assert set(asked["scope"].split()) == {
        SCOPE + "youtube.upload",
        SCOPE + "youtube.readonly",
        SCOPE + "yt-analytics.readonly",
        SCOPE + "youtube.force-ssl",
    }
    assert asked["code_challenge_method"] == "S256"
    account = await connected(world)
    assert account["platform"] == "youtube"
    assert account["external_id"].startswith("UC")
    assert account["username"] == "sandboxcreator"
    assert account["display_name"] == "Sandbox Creator"
    assert account["status"] == "active"
    assert account["token_expires_at"] is not None
    tokens = world.control("youtube", "GET", "/tokens")["tokens"]
    assert {token["kind"] for token in tokens} == {"access", "refresh"}


async def test_a_second_channel_is_chosen_at_consent_and_is_its_own_account(
    world: World,  # noqa: F811
) -> None:
    first = await connected(world)
    other = world.control("youtube", "POST", "/channels", {"title": "Acme Shorts"})
    world.control("youtube", "POST", "/consent", {"channel": other["id"]})
    second = await connected(world)
    assert second["id"] != first["id"]
    assert (second["external_id"], second["display_name"]) == (other["id"], "Acme Shorts")


async def test_consent_without_the_upload_scope_does_not_connect(
    world: World,  # noqa: F811
) -> None:
    world.control("youtube", "POST", "/consent", {"untick": [SCOPE + "youtube.upload"]})
    finished = await world.connect("youtube")
    assert finished.status_code == 302
    assert "error" in query(finished.headers["location"])
    listed = await world.api.get(
        f"/api/v1/social-accounts?brand_id={world.brand_id}", headers=world.owner.headers
    )
    assert listed.json()["items"] == []


async def test_platforms_list_youtube_with_its_options_and_limits(
    world: World,  # noqa: F811
) -> None:
    listed = await world.api.get("/api/v1/platforms")
    [youtube] = [item for item in listed.json()["items"] if item["name"] == "youtube"]
    assert youtube["available"] is True
    assert (youtube["max_videos"], youtube["max_images"]) == (1, 1)
    assert youtube["requires_media"] is True
    assert set(youtube["options"]["properties"]) == {
        "title", "description", "privacy", "tags", "category_id", "made_for_kids",
        "notify_subscribers", "publish_at", "first_comment",
    }  # fmt: skip


async def test_options_are_checked_by_youtubes_rules_when_the_post_is_written(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4())

    async def refused(options: dict[str, Any], content: str = "About the launch") -> str:
        target = {"social_account_id": account_id, "options": options}
        response = await engine.create(
            expect=None, content=content, targets=[target], media_ids=[clip]
        )
        assert_problem(response, 422, "validation_error")
        [entry] = response.json()["errors"]
        return str(entry["rule"])

    assert await refused({"privacy": "public"}) == "invalid_options"
    assert await refused(OPTIONS | {"pin": True}) == "invalid_options"
    assert await refused(OPTIONS | {"title": "x" * 101}) == "title_too_long"
    # 500 characters of tags fit; a space in one adds the two quotes YouTube counts.
    fits = ["a" * 99] * 5  # 495 + 4 commas
    await engine.create(
        content="Tags",
        targets=[{"social_account_id": account_id, "options": OPTIONS | {"tags": fits}}],
        media_ids=[clip],
    )
    assert await refused(OPTIONS | {"tags": ["a b" * 33] * 5}) == "tags_too_long"
    assert await refused(OPTIONS, content="é" * 2501) == "description_too_long"
    assert await refused(OPTIONS, content="a <b> tag") == "invalid_characters"
    later = (clock.now() + timedelta(days=1)).isoformat()
    assert await refused(OPTIONS | {"publish_at": later}) == "publish_at_requires_private"


async def test_a_video_goes_up_in_slices_with_its_thumbnail_and_exists_once(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, big_mp4(5 * CHUNK - 1000))
    cover = await engine.upload()
    options = OPTIONS | {"category_id": "22", "made_for_kids": False, "notify_subscribers": False}
    post = await publish(engine, account_id, "Our launch, in five minutes", [clip, cover], options)
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    video_id = target["external_id"]
    assert target["permalink"] == f"https://www.youtube.com/watch?v={video_id}"
    [session] = sessions(engine.world)
    assert session["video"] == video_id
    assert len(session["ranges"]) == 5
    assert contiguous(session)
    [made] = engine.world.control("youtube", "GET", "/videos")["videos"]
    assert made["snippet"]["description"] == "Our launch, in five minutes"
    assert made["snippet"]["tags"] == ["launch", "t21"]
    assert made["status"]["selfDeclaredMadeForKids"] is False
    assert "thumbnails" in made["snippet"]
    requested = engine.world.control("youtube", "GET", "/requests")["requests"]
    opened = [r for r in requested if r["method"] == "POST" and r["path"].endswith("/videos")]
    assert "notifySubscribers=false" in opened[0]["query"]


async def test_a_private_video_is_scheduled_to_go_public_at_publish_at(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4())
    at = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    local = at.astimezone(ZoneInfo("Europe/Paris")).isoformat()
    options = OPTIONS | {"privacy": "private", "publish_at": local}
    post = await publish(engine, account_id, "Premieres on Tuesday", [clip], options)
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    [made] = engine.world.control("youtube", "GET", "/videos")["videos"]
    assert made["status"]["privacyStatus"] == "private"
    assert made["status"]["publishAt"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_vertical_short_video_is_linked_as_a_short(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4(duration_s=45, width=1080, height=1920))
    post = await publish(engine, account_id, "A Short", [clip])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    assert target["permalink"] == f"https://www.youtube.com/shorts/{target['external_id']}"


async def test_a_failing_connection_mid_upload_resumes_from_youtubes_offset(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, big_mp4(5 * CHUNK - 10))
    engine.world.control("youtube", "POST", "/chunk-faults", {"after": 3, "count": 1})
    post = await publish(engine, account_id, "Through a bad connection", [clip])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "retrying", target
    assert target["last_error"]["code"] == "server_error"
    [session] = sessions(engine.world)
    assert session["received"] == 3 * CHUNK
    await engine.make_due(target["id"])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    [session] = sessions(engine.world)
    assert contiguous(session)
    assert len(engine.world.control("youtube", "GET", "/videos")["videos"]) == 1


async def test_a_worker_killed_mid_upload_is_resumed_not_restarted(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, big_mp4(6 * CHUNK))
    post = await publish(engine, account_id, "Survives a crash", [clip])
    for _ in range(2):  # the session, then a first slice of two chunks
        await engine.tick()
    target_id = (await engine.read(post["id"]))["targets"][0]["id"]
    async with session_scope(engine.world.runtime) as db:
        held = await db.get(PostTarget, uuid.UUID(target_id))
        assert held is not None
        assert held.progress is not None
        progress = held.progress["state"]
    assert progress["offset"] == 2 * CHUNK
    # The worker that took the next slice sent a chunk YouTube kept, then died unrecorded.
    data = big_mp4(6 * CHUNK)
    [session] = sessions(engine.world)
    upload = f"{engine.world.sandbox}/youtube/upload/youtube/v3/videos"
    async with httpx.AsyncClient(verify=tls_context()) as http:
        sent = await http.put(
            f"{upload}?uploadType=resumable&upload_id={session['id']}",
            content=data[2 * CHUNK : 3 * CHUNK],
            headers={
                "Content-Range": f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{len(data)}",
                "Authorization": f"Bearer {await _access_token(engine, account_id)}",
            },
            timeout=10,
        )
    assert sent.status_code == 308
    await engine.cut_off(target_id)
    await engine.tick()  # the reaper: no such video at YouTube yet; the upload goes on
    target = (await engine.read(post["id"]))["targets"][0]
    assert target["status"] == "retrying", target
    await engine.make_due(target_id)
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    [session] = sessions(engine.world)
    assert contiguous(session)
    assert session["ranges"][2] == [2 * CHUNK, 3 * CHUNK - 1]
    assert len(engine.world.control("youtube", "GET", "/videos")["videos"]) == 1
    assert engine.sends("youtube", "Survives a crash") == ["accepted"]


async def _access_token(engine: Engine, account_id: str) -> str:  # noqa: F811
    return await _world_token(engine.world, account_id)


@pytest.mark.lost_answer
async def test_a_lost_answer_to_the_last_chunk_is_settled_by_the_session(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4())
    engine.world.control(
        "youtube",
        "POST",
        "/faults",
        {"status": 200, "method": "PUT", "path": "/upload/youtube/v3/videos$",
         "query": "upload_id", "lose_response": True, "delay_s": 2},
    )  # fmt: skip
    post = await publish(engine, account_id, "Did it go up?", [clip])
    target = await until_settled(engine, post["id"])
    if target["status"] == "retrying":
        await engine.make_due(target["id"])
        target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    videos = engine.world.control("youtube", "GET", "/videos")["videos"]
    assert [v["id"] for v in videos] == [target["external_id"]]
    assert engine.sends("youtube", "Did it go up?") == ["accepted"]


async def test_an_exhausted_daily_quota_defers_the_upload_to_pacific_midnight(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4())
    engine.world.control("youtube", "POST", "/quota", {"uploads": 0})
    post = await publish(engine, account_id, "Tomorrow, then", [clip])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "retrying", target
    assert target["last_error"]["code"] == "youtube_quota_exhausted"
    assert "midnight Pacific time" in target["last_error"]["message"]
    due = datetime.fromisoformat(target["next_attempt_at"].replace("Z", "+00:00"))
    pacific = ZoneInfo("America/Los_Angeles")
    midnight = datetime.combine(
        clock.now().astimezone(pacific).date() + timedelta(days=1), datetime.min.time(), pacific
    ).astimezone(UTC)
    assert due >= midnight
    assert videos_count(engine) == 0


def videos_count(engine: Engine) -> int:  # noqa: F811
    return len(engine.world.control("youtube", "GET", "/videos")["videos"])


async def test_a_revoked_grant_makes_the_channel_need_reconnecting(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    engine.world.control("youtube", "POST", "/tokens/revoke", {})
    clip = await video(engine, mp4())
    post = await publish(engine, account["id"], "Anyone there?", [clip])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "failed", target
    read = await engine.api.get(
        f"/api/v1/social-accounts/{account['id']}", headers=engine.owner.headers
    )
    assert read.json()["status"] == "reauth_required"
    assert videos_count(engine) == 0


async def test_views_likes_and_comments_are_collected(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    clip = await video(engine, mp4())
    post = await publish(engine, account_id, "Count me", [clip])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    engine.world.control(
        "youtube",
        "POST",
        f"/videos/{target['external_id']}/statistics",
        {"viewCount": 1200, "likeCount": 85, "commentCount": 7},
    )
    await engine.change_target(target["id"], next_collect_at=clock.now() - timedelta(seconds=1))
    await engine.loops.run_once("analytics.collect")
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as db:
        [snapshot] = (
            await db.scalars(
                select(MetricSnapshot).where(MetricSnapshot.target_id == uuid.UUID(target["id"]))
            )
        ).all()
    assert (snapshot.video_views, snapshot.likes, snapshot.comments) == (1200, 85, 7)


async def test_t21_budgets_the_projects_uploads_across_channels_and_says_why_one_waits(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budget = YouTubeProvider.publish_budget
    assert budget is not None
    assert (budget.posts, budget.shared) == (100, True)
    monkeypatch.setattr(YouTubeProvider, "publish_budget", replace(budget, posts=1))
    first_channel = (await connected(engine.world))["id"]
    other = engine.world.control("youtube", "POST", "/channels", {"title": "Acme Shorts"})
    engine.world.control("youtube", "POST", "/consent", {"channel": other["id"]})
    second_channel = (await connected(engine.world))["id"]
    clip = await video(engine, big_mp4(3 * CHUNK))
    first = await publish(engine, first_channel, "First of the day", [clip])
    await engine.tick()  # its session is open: the day's one upload is spent
    refused_after = clock.now()
    second = await publish(engine, second_channel, "One too many", [clip])
    done = await until_settled(engine, first["id"])
    assert done["status"] == "published", done
    waiting = (await engine.read(second["id"]))["targets"][0]
    assert waiting["status"] == "scheduled", (waiting["last_error"], waiting["attempts"])
    assert waiting["last_error"]["code"] == "youtube_quota_budget"
    assert "midnight Pacific time" in waiting["last_error"]["message"]
    due = datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    # The next midnight Pacific time after the refusal (the test may straddle one)
    assert due in {quota_reset(refused_after), quota_reset(clock.now())}
    assert engine.sends("youtube", "One too many") == []


async def test_a_forced_refresh_keeps_googles_refresh_token_and_disconnecting_revokes_it(
    world: World,  # noqa: F811
) -> None:
    account = await connected(world)
    refreshed = await world.api.post(
        f"/api/v1/social-accounts/{account['id']}/refresh", headers=world.owner.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["status"] == "active"
    tokens = world.control("youtube", "GET", "/tokens")["tokens"]
    assert sorted(token["kind"] for token in tokens) == ["access", "access", "refresh"]
    gone = await world.api.delete(
        f"/api/v1/social-accounts/{account['id']}", headers=world.owner.headers
    )
    assert gone.status_code == 204, gone.text
    tokens = world.control("youtube", "GET", "/tokens")["tokens"]
    assert not any(token["usable"] for token in tokens)


async def collected(engine: Engine, target_id: str) -> MetricSnapshot:  # noqa: F811
    """Collect the target's numbers now; its one snapshot."""
    await engine.change_target(target_id, next_collect_at=clock.now() - timedelta(seconds=1))
    await engine.loops.run_once("analytics.collect")
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as db:
        [snapshot] = (
            await db.scalars(
                select(MetricSnapshot).where(MetricSnapshot.target_id == uuid.UUID(target_id))
            )
        ).all()
    return snapshot


def report_requests(engine: Engine) -> list[dict[str, Any]]:  # noqa: F811
    requests = engine.world.control("youtube", "GET", "/requests")["requests"]
    return [r for r in requests if r["path"] == "/v2/reports"]


async def test_with_the_analytics_scope_the_analytics_report_gives_views_likes_comments_and_shares(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    post = await publish(engine, account_id, "Reported", [await video(engine, mp4())])
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    engine.world.control(
        "youtube",
        "POST",
        f"/videos/{target['external_id']}/analytics",
        {"views": 1500, "likes": 90, "comments": 8, "shares": 12},
    )
    snapshot = await collected(engine, target["id"])
    assert (snapshot.video_views, snapshot.likes, snapshot.comments) == (1500, 90, 8)
    assert snapshot.shares == 12
    [asked] = report_requests(engine)
    assert "ids=channel%3D%3DMINE" in asked["query"]
    assert f"filters=video%3D%3D{target['external_id']}" in asked["query"]


async def test_a_video_not_yet_in_the_report_is_counted_from_the_data_api_statistics(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = (await connected(engine.world))["id"]
    post = await publish(engine, account_id, "Too fresh", [await video(engine, mp4())])
    target = await until_settled(engine, post["id"])
    video_id = target["external_id"]
    engine.world.control("youtube", "POST", f"/videos/{video_id}/analytics", {"reported": False})
    engine.world.control(
        "youtube", "POST", f"/videos/{video_id}/statistics", {"viewCount": 40, "likeCount": 3}
    )
    snapshot = await collected(engine, target["id"])
    assert (snapshot.video_views, snapshot.likes, snapshot.comments) == (40, 3, 0)
    assert snapshot.shares is None  # statistics have no shares
    assert len(report_requests(engine)) == 1


async def test_without_the_analytics_scope_only_the_data_api_statistics_are_read(
    engine: Engine,  # noqa: F811
) -> None:
    engine.world.control(
        "youtube", "POST", "/consent", {"untick": [SCOPE + "yt-analytics.readonly"]}
    )
    account_id = (await connected(engine.world))["id"]
    post = await publish(engine, account_id, "No analytics", [await video(engine, mp4())])
    target = await until_settled(engine, post["id"])
    engine.world.control(
        "youtube", "POST", f"/videos/{target['external_id']}/statistics", {"viewCount": 77}
    )
    snapshot = await collected(engine, target["id"])
    assert (snapshot.video_views, snapshot.shares) == (77, None)
    assert report_requests(engine) == []


async def test_the_fake_report_is_strict_about_scopes_and_metric_names(
    world: World,  # noqa: F811
) -> None:
    world.control("youtube", "POST", "/consent", {"untick": [SCOPE + "yt-analytics.readonly"]})
    without = await connected(world)
    token = await _world_token(world, without["id"])
    reports = f"{world.sandbox}/youtube/v2/reports"
    params = {
        "ids": "channel==MINE",
        "startDate": "2026-01-01",
        "endDate": "2026-12-01",
        "metrics": "views,estimatedMinutesWatched,averageViewDuration,subscribersGained",
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
        refused = await http.get(reports, params=params, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
        world.control("youtube", "POST", "/consent", {"untick": []})
        granted = await connected(world)
        headers = {"Authorization": f"Bearer {await _world_token(world, granted['id'])}"}
        answered = await http.get(reports, params=params, headers=headers)
        assert answered.status_code == 200, answered.text
        names = [column["name"] for column in answered.json()["columnHeaders"]]
        assert names == params["metrics"].split(",")
        unknown = await http.get(reports, params=params | {"metrics": "views,watchTime"},
                                 headers=headers)  # fmt: skip
        assert unknown.status_code == 400
        assert "watchTime" in unknown.json()["error"]["message"]
        missing = await http.get(reports, params={"ids": "channel==MINE"}, headers=headers)
        assert missing.status_code == 400


async def _world_token(world: World, account_id: str) -> str:  # noqa: F811
    from t21.social.models import SocialAccount
    from t21.social.tokens import held_credentials

    async with session_scope(world.runtime) as db:
        account = await db.get(SocialAccount, uuid.UUID(account_id))
        assert account is not None
        return held_credentials(world.runtime, account).access_token
