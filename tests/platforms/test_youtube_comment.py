"""YouTube's first comment through T21's API against the sandbox's fake over HTTP: posted once
as the channel after the video is out, refused when the post is written on a channel connected
without the comment scope, and a refused comment never takes the video back or re-uploads it;
the fake's commentThreads endpoint is as strict as YouTube's."""

from __future__ import annotations

from typing import Any

import httpx

from t21.core.tls import tls_context
from t21.sandbox.platform import text_digest
from tests.core.test_http import assert_problem
from tests.media.files import mp4
from tests.platforms.test_youtube_api import (
    OPTIONS,
    SCOPE,
    _world_token,
    connected,
    publish,
    sessions,
    until_settled,
    video,
    videos_count,
)
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixture)
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)

COMMENT_SCOPE = SCOPE + "youtube.force-ssl"


def sends(engine: Engine, text: str) -> list[dict[str, Any]]:  # noqa: F811
    found = engine.world.control("youtube", "GET", "/sends")["sends"]
    return [send for send in found if send["text_sha256"] == text_digest(text)]


def comments(world: World) -> list[dict[str, Any]]:  # noqa: F811
    return list(world.control("youtube", "GET", "/comments")["comments"])


def units_left(world: World) -> int:  # noqa: F811
    return int(world.control("youtube", "POST", "/quota", {})["units"])


async def test_the_connection_asks_for_the_comment_scope_and_platforms_list_first_comments(
    world: World,  # noqa: F811
) -> None:
    started = await world.api.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": world.brand_id, "platform": "youtube"},
        headers=world.owner.headers,
    )
    assert started.status_code == 200, started.text
    url = httpx.URL(started.json()["authorization_url"])
    assert COMMENT_SCOPE in url.params["scope"].split()
    listed = await world.api.get("/api/v1/platforms")
    [youtube] = [item for item in listed.json()["items"] if item["name"] == "youtube"]
    assert youtube["supports_first_comment"] is True
    assert youtube["max_comment"] == 10_000


async def test_the_first_comment_goes_out_once_after_the_video_and_costs_50_units(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    clip = await video(engine, mp4())
    before = units_left(engine.world)
    options = OPTIONS | {"first_comment": "Chapters are in the description!"}
    post = await publish(engine, account["id"], "The launch video", [clip], options)
    assert post["targets"][0]["first_comment"]["status"] == "pending"
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    video_id = target["external_id"]
    comment = target["first_comment"]
    assert comment["status"] == "published", target
    assert (
        comment["permalink"]
        == f"https://www.youtube.com/watch?v={video_id}&lc={comment['external_id']}"
    )
    [thread] = comments(engine.world)
    assert thread["id"] == comment["external_id"]
    top = thread["snippet"]["topLevelComment"]["snippet"]
    assert (thread["snippet"]["videoId"], top["textOriginal"]) == (
        video_id,
        "Chapters are in the description!",
    )
    assert top["authorChannelId"]["value"] == account["external_id"]
    [video_send] = sends(engine, "The launch video")
    [comment_send] = sends(engine, "Chapters are in the description!")
    assert (comment_send["kind"], comment_send["reply_to"]) == ("comment", video_id)
    assert video_send["number"] < comment_send["number"]
    assert videos_count(engine) == 1
    assert before - units_left(engine.world) >= 50


async def test_a_channel_connected_without_the_comment_scope_is_refused_a_first_comment(
    engine: Engine,  # noqa: F811
) -> None:
    engine.world.control("youtube", "POST", "/consent", {"untick": [COMMENT_SCOPE]})
    account = await connected(engine.world)
    assert account["status"] == "active"
    clip = await video(engine, mp4())
    target = {
        "social_account_id": account["id"],
        "options": OPTIONS | {"first_comment": "First!"},
    }
    response = await engine.create(
        expect=None, content="No comment scope", targets=[target], media_ids=[clip]
    )
    assert_problem(response, 422, "validation_error")
    [entry] = response.json()["errors"]
    assert entry["rule"] == "first_comment_scope_missing"
    assert entry["loc"] == ["body", "targets", 0, "options", "first_comment"]
    assert "youtube.force-ssl" in entry["msg"]
    # The same channel still uploads a video without a comment.
    post = await publish(engine, account["id"], "Uploads still work", [clip])
    assert (await until_settled(engine, post["id"]))["status"] == "published"


async def test_comments_are_refused_on_made_for_kids_videos_and_past_10000_characters(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    clip = await video(engine, mp4())

    async def refused(options: dict[str, Any]) -> str:
        target = {"social_account_id": account["id"], "options": OPTIONS | options}
        response = await engine.create(
            expect=None, content="Refused", targets=[target], media_ids=[clip]
        )
        assert_problem(response, 422, "validation_error")
        [entry] = response.json()["errors"]
        return str(entry["rule"])

    assert await refused({"first_comment": "Hi", "made_for_kids": True}) == (
        "first_comment_made_for_kids"
    )
    assert await refused({"first_comment": "x" * 10_001}) == "first_comment"
    assert await refused({"first_comment": "   "}) == "first_comment"
    fits = {
        "social_account_id": account["id"],
        "options": OPTIONS | {"first_comment": "x" * 10_000},
    }
    await engine.create(content="Long comment", targets=[fits], media_ids=[clip])


async def test_a_refused_comment_leaves_the_video_published_and_only_the_comment_is_retried(
    engine: Engine,  # noqa: F811
) -> None:
    account = await connected(engine.world)
    clip = await video(engine, mp4())
    refusal = {
        "error": {
            "code": 403,
            "message": "The comment could not be created due to insufficient permissions.",
            "errors": [{"domain": "youtube.commentThread", "reason": "forbidden"}],
        }
    }
    engine.world.control(
        "youtube",
        "POST",
        "/faults",
        {"path": "/commentThreads$", "method": "POST", "status": 403, "body": refusal},
    )
    options = OPTIONS | {"first_comment": "Tell us what you think"}
    post = await publish(engine, account["id"], "Comment refused", [clip], options)
    target = await until_settled(engine, post["id"])
    assert target["status"] == "failed", target
    assert target["first_comment"]["status"] != "published", target
    assert "comment" in target["last_error"]["message"].lower(), target
    # The video is out, once, and the channel still works.
    [made] = engine.world.control("youtube", "GET", "/videos")["videos"]
    assert made["snippet"]["description"] == "Comment refused"
    assert len(sessions(engine.world)) == 1
    assert comments(engine.world) == []
    read = await engine.api.get(
        f"/api/v1/social-accounts/{account['id']}", headers=engine.owner.headers
    )
    assert read.json()["status"] == "active"
    # Publishing again sends the comment alone: no second upload.
    again = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert again.status_code == 202, again.text
    target = await until_settled(engine, post["id"])
    assert target["status"] == "published", target
    assert target["external_id"] == made["id"]
    assert target["first_comment"]["status"] == "published"
    assert len(sessions(engine.world)) == 1
    assert videos_count(engine) == 1
    assert len(sends(engine, "Comment refused")) == 1
    [thread] = comments(engine.world)
    assert thread["snippet"]["videoId"] == made["id"]


async def test_the_fake_comment_threads_are_strict(
    engine: Engine,  # noqa: F811
) -> None:
    world = engine.world  # noqa: F811
    world.control("youtube", "POST", "/consent", {"untick": [COMMENT_SCOPE]})
    without = await connected(world)
    # Reconnecting the channel with the scope replaces this token: keep it first.
    unscoped = {"Authorization": f"Bearer {await _world_token(world, without['id'])}"}
    world.control("youtube", "POST", "/consent", {"untick": []})
    granted = await connected(world)
    clip = await video(engine, mp4())
    post = await publish(engine, granted["id"], "A video to comment on", [clip])
    video_id = (await until_settled(engine, post["id"]))["external_id"]
    url = f"{world.sandbox}/youtube/youtube/v3/commentThreads"
    channel = granted["external_id"]

    def thread(text: Any, video: str = video_id, channel_id: str | None = channel) -> Any:
        snippet: dict[str, Any] = {"videoId": video, "topLevelComment": {"snippet": {}}}
        if channel_id is not None:
            snippet["channelId"] = channel_id
        if text is not None:
            snippet["topLevelComment"]["snippet"]["textOriginal"] = text
        return {"snippet": snippet}

    def reason(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, str(response.json()["error"]["errors"][0]["reason"])

    scoped = {"Authorization": f"Bearer {await _world_token(world, granted['id'])}"}
    part = {"part": "snippet"}
    async with httpx.AsyncClient(verify=tls_context(), timeout=10) as http:
        refused = await http.post(url, params=part, json=thread("Hi"), headers=unscoped)
        assert reason(refused) == (403, "insufficientPermissions")
        unknown = await http.post(url, params=part, json=thread("Hi", "nope"), headers=scoped)
        assert reason(unknown) == (404, "videoNotFound")
        empty = await http.post(url, params=part, json=thread("  "), headers=scoped)
        assert reason(empty) == (400, "commentTextRequired")
        absent = await http.post(url, params=part, json=thread(None), headers=scoped)
        assert reason(absent) == (400, "commentTextRequired")
        long = await http.post(url, params=part, json=thread("x" * 10_001), headers=scoped)
        assert reason(long) == (400, "commentTextTooLong")
        nameless = await http.post(
            url, params=part, json=thread("Hi", channel_id=None), headers=scoped
        )
        assert reason(nameless) == (400, "channelOrVideoIdMissing")
        assert comments(world) == []
        made = await http.post(url, params=part, json=thread("x" * 10_000), headers=scoped)
        assert made.status_code == 200, made.text
        listed = await http.get(url, params=part | {"videoId": video_id}, headers=scoped)
        assert [item["id"] for item in listed.json()["items"]] == [made.json()["id"]]
    [recorded] = comments(world)
    assert recorded["id"] == made.json()["id"]
    [stored] = world.control("youtube", "GET", "/videos")["videos"]
    assert stored["statistics"]["commentCount"] == "1"
