"""Thread parts carrying their own media, and a part in review resolved as published without
its id: only that part counts as out, and the chain goes on or waits as its rules say."""

from __future__ import annotations

from typing import Any

from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, engine  # noqa: F401  (fixtures)
from tests.publishing.test_threads import run_until_settled, start
from tests.social.conftest import sandbox  # noqa: F401  (fixture)

X_LISTING_DOWN = {"path": "/tweets$", "method": "GET", "status": 503, "count": 50}


async def test_a_threads_second_part_carries_its_own_image_to_x(engine: Engine) -> None:  # noqa: F811
    photo = await engine.upload()
    x = await engine.account("twitter")
    post = await engine.create(
        content="A thread with a picture",
        targets=[
            {
                "social_account_id": x,
                "thread": [
                    {"content": "Here it is", "media_ids": [photo]},
                    {"content": "That's all"},
                ],
            }
        ],
    )
    published = await engine.api.post(
        f"{POSTS}/{post.json()['id']}/publish", headers=engine.owner.headers
    )
    assert published.status_code == 202, published.text
    done = await run_until_settled(engine, post.json()["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    tweets = engine.published_at_network("twitter")
    assert [tweet["text"] for tweet in tweets] == [
        "A thread with a picture",
        "Here it is",
        "That's all",
    ]
    assert [len(tweet["media"]) for tweet in tweets] == [0, 1, 0]
    assert tweets[1]["media"][0]["type"] == "photo"
    ids = [part["external_id"] for part in target["parts"]]
    assert [tweet["reply_to"] for tweet in tweets] == [None, ids[0], ids[1]]
    # A part's media must be in the brand's library: an unknown id is refused at the desk.
    refused = await engine.create(
        expect=422,
        content="Wrong picture",
        targets=[
            {"social_account_id": x, "thread": [{"content": "x", "media_ids": [post.json()["id"]]}]}
        ],
    )
    assert refused.json()["code"] == "validation_error"


async def in_review_at(engine: Engine, step: int, *parts: str) -> tuple[dict[str, Any], str]:  # noqa: F811
    """A thread of `parts` whose part `step` (from 0) was cut off, X unable to list posts."""
    post = await start(engine, "twitter", *parts)
    for _ in range(step):
        await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    engine.world.control("twitter", "POST", "/faults", X_LISTING_DOWN)
    await engine.cut_off(target["id"])
    await engine.tick_once_the_reaper_gives_up()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "needs_review", target
    return post, target["id"]


async def resolve(engine: Engine, post: dict[str, Any], target_id: str) -> Any:  # noqa: F811
    return await engine.api.post(
        f"{POSTS}/{post['id']}/targets/{target_id}/resolve",
        json={"outcome": "published"},
        headers=engine.owner.headers,
    )


async def test_a_middle_part_resolved_published_without_its_id_waits_for_it(
    engine: Engine,  # noqa: F811
) -> None:
    post, target_id = await in_review_at(engine, 1, "Middle one", "Middle two", "Middle three")
    answer = await resolve(engine, post, target_id)
    assert_problem(answer, 422, "validation_error")
    assert answer.json()["errors"][0]["loc"] == ["body", "external_id"]
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "needs_review"
    assert [p["status"] for p in target["parts"]] == ["published", "needs_review", "pending"]
    # Given the id, the chain goes on from that part: the third replies to it.
    given = await engine.api.post(
        f"{POSTS}/{post['id']}/targets/{target_id}/resolve",
        json={"outcome": "published", "external_id": "1790000000000000001"},
        headers=engine.owner.headers,
    )
    assert given.status_code == 200, given.text
    [target] = given.json()["targets"]
    assert target["status"] != "published"
    assert [p["status"] for p in target["parts"]] == ["published", "published", "pending"]


async def test_the_last_part_resolved_published_without_its_id_publishes_the_target(
    engine: Engine,  # noqa: F811
) -> None:
    post, target_id = await in_review_at(engine, 2, "Last one", "Last two", "Last three")
    answer = await resolve(engine, post, target_id)
    assert answer.status_code == 200, answer.text
    [target] = answer.json()["targets"]
    assert target["status"] == "published"
    assert [p["status"] for p in target["parts"]] == ["published"] * 3
    assert target["parts"][2]["external_id"] is None
    assert target["external_id"] == target["parts"][0]["external_id"]
    assert answer.json()["status"] == "published"
