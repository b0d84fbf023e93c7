"""Threads through the API and the engine, against the sandbox networks over HTTP: each part
checked as a post of its network, the parts out in order as a reply chain (the fakes record what
each send answers), one part per attempt, and a chain cut off between parts ending with every
part out exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from t21.core import clock
from t21.sandbox.platform import text_digest
from tests.core.test_http import assert_problem
from tests.platforms.test_bluesky_api import APP_PASSWORD
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine, engine, public_engine  # noqa: F401  (fixtures)
from tests.social.conftest import sandbox  # noqa: F401  (fixture)

THREADED = ("twitter", "bluesky", "mastodon", "threads")


async def connect(engine: Engine, platform: str) -> str:  # noqa: F811
    """The brand's account on `platform`, connected the way that network connects."""
    if platform in engine.accounts:
        return engine.accounts[platform]
    if platform in ("bluesky", "mastodon"):
        body: dict[str, Any] = (
            {"credentials": {"handle": "shop.example.com", "app_password": APP_PASSWORD}}
            if platform == "bluesky"
            else {"instance": "mastodon.example"}
        )
        started = await engine.api.post(
            "/api/v1/social-accounts/connect",
            json={"brand_id": engine.brand_id, "platform": platform, **body},
            headers=engine.owner.headers,
        )
        if platform == "bluesky":
            assert started.status_code == 201, started.text
            engine.accounts[platform] = started.json()["items"][0]["id"]
        else:
            assert started.status_code == 200, started.text
            world = engine.world
            finished = await world.back_to_t21(
                await world.to_network(started.json()["authorization_url"])
            )
            engine.accounts[platform] = finished.headers["location"].split("connected=")[1]
        return engine.accounts[platform]
    return await engine.account(platform)


def thread_body(account_id: str, *parts: str, **target: Any) -> dict[str, Any]:
    return {
        "content": parts[0],
        "targets": [
            {
                "social_account_id": account_id,
                "thread": [{"content": part} for part in parts[1:]],
                **target,
            }
        ],
    }


async def start(engine: Engine, platform: str, *parts: str) -> dict[str, Any]:  # noqa: F811
    account_id = await connect(engine, platform)
    post = (await engine.create(**thread_body(account_id, *parts))).json()
    answer = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert answer.status_code == 202, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def run_until_settled(
    engine: Engine,  # noqa: F811
    post_id: str,
    within_s: float = 10.0,
) -> dict[str, Any]:
    """The post once its target settles (published, failed, needs review), ticking until it
    does, for `within_s` of real time at most. A retry waits out its jittered delay in real
    time (up to `publish_retry_max_s`): a count of ticks could pass in less on a fast machine
    (eight did once, a retry 50 ms away seen due only at the seventh)."""
    deadline = time.monotonic() + within_s
    while True:
        await engine.tick()
        post = await engine.read(post_id)
        settled = post["targets"][0]["status"] in ("published", "failed", "needs_review")
        if settled or time.monotonic() > deadline:
            return post


def sends_of(engine: Engine, network: str) -> list[dict[str, Any]]:  # noqa: F811
    found: list[dict[str, Any]] = engine.world.control(network, "GET", "/sends")["sends"]
    return found


def send_of(engine: Engine, network: str, text: str) -> list[dict[str, Any]]:  # noqa: F811
    return [s for s in sends_of(engine, network) if s["text_sha256"] == text_digest(text)]


@pytest.mark.parametrize("platform", THREADED)
async def test_a_thread_goes_out_in_order_each_part_a_reply_to_the_one_before(
    engine: Engine,  # noqa: F811
    platform: str,
) -> None:
    parts = (f"One of three on {platform}", "Two of three", "Three of three")
    post = await start(engine, platform, *parts)
    # One part per attempt: after one pass only the first part is out.
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert [part["status"] for part in target["parts"]] == ["published", "pending", "pending"]
    assert target["status"] != "published"
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert done["status"] == "published"
    assert [part["position"] for part in target["parts"]] == [0, 1, 2]
    assert all(part["status"] == "published" for part in target["parts"])
    ids = [part["external_id"] for part in target["parts"]]
    assert len(set(ids)) == 3
    assert all(ids)
    assert target["external_id"] == ids[0]
    assert target["permalink"] == target["parts"][0]["permalink"]
    # At the network: each part sent once, in order, answering the part before it.
    answered = []
    for text in parts:
        [send] = send_of(engine, platform, text)
        assert send["outcome"] == "accepted", send
        answered.append(send["reply_to"])
    assert answered == [None, ids[0], ids[1]]
    numbers = [send_of(engine, platform, text)[0]["number"] for text in parts]
    assert numbers == sorted(numbers)
    # Nothing more goes out afterwards.
    await engine.tick()
    assert len(sends_of(engine, platform)) == 3


async def test_each_part_is_checked_as_a_post_of_its_network(engine: Engine) -> None:  # noqa: F811
    account_id = await connect(engine, "twitter")
    body = thread_body(account_id, "Fine first part", "Fine second part", "x" * 281)
    body["targets"][0]["thread"][0]["media_ids"] = ["0190d6a4-0000-7000-8000-000000000000"]
    refused = await engine.create(expect=None, **body)
    assert_problem(refused, 422, "validation_error")
    errors = refused.json()["errors"]
    locs = {tuple(entry["loc"]): entry for entry in errors}
    assert ("body", "targets", 0, "thread", 0, "media_ids", 0) in locs
    too_long = locs[("body", "targets", 0, "thread", 1, "content")]
    assert too_long["rule"] == "text_too_long"
    assert too_long["platform"] == "twitter"
    # The first part and the post's own fields are fine: nothing else is named.
    assert len(errors) == 2
    assert engine.published_at_network("twitter") == []


async def test_a_thread_on_a_network_without_reply_chains_is_refused(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await connect(engine, "linkedin")
    refused = await engine.create(expect=None, **thread_body(account_id, "Part one", "Part two"))
    assert_problem(refused, 422, "validation_error")
    [entry] = refused.json()["errors"]
    assert entry["loc"] == ["body", "targets", 0, "thread"]
    assert entry["rule"] == "thread_not_supported"


async def test_a_target_without_a_thread_lists_no_parts(engine: Engine) -> None:  # noqa: F811
    post = await engine.publish_now("twitter", content="Alone")
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published"
    assert target["parts"] == []
    assert target["thread"] is None


async def test_the_dry_run_reports_each_part(engine: Engine) -> None:  # noqa: F811
    account_id = await connect(engine, "twitter")
    body = thread_body(account_id, "Short", "y" * 300) | {"brand_id": engine.brand_id}
    answer = await engine.api.post(f"{POSTS}/validate", json=body, headers=engine.owner.headers)
    assert answer.status_code == 200, answer.text
    checked = answer.json()
    assert checked["valid"] is False
    [entry] = checked["errors"]
    assert entry["loc"] == ["body", "targets", 0, "thread", 0, "content"]
    [target] = checked["targets"]
    assert [(p["position"], p["length"], p["limit"]) for p in target["parts"]] == [
        (0, 5, 280),
        (1, 300, 280),
    ]


async def test_a_post_with_part_of_its_thread_out_cannot_be_edited(
    engine: Engine,  # noqa: F811
) -> None:
    post = await start(engine, "mastodon", "Edit me not", "Second")
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["parts"][0]["status"] == "published"
    edit = await engine.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Changed"}, headers=engine.owner.headers
    )
    assert_problem(edit, 409, "conflict")


async def test_a_chain_refused_for_good_ends_failed_with_its_published_parts(
    engine: Engine,  # noqa: F811
) -> None:
    post = await start(engine, "mastodon", "Goes out", "Refused", "Never sent")
    await engine.tick()
    engine.world.control(
        "mastodon",
        "POST",
        "/faults",
        {"path": "^/api/v1/statuses$", "method": "POST", "status": 422,
         "body": {"error": "Validation failed: Text is not acceptable"}, "count": 1},
    )  # fmt: skip
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "failed", target
    assert [p["status"] for p in target["parts"]] == ["published", "failed", "failed"]
    assert target["parts"][0]["external_id"]
    # What went out stays findable on the target itself.
    assert target["external_id"] == target["parts"][0]["external_id"]
    assert send_of(engine, "mastodon", "Never sent") == []
    assert done["status"] == "failed"


@pytest.mark.parametrize("platform", ["twitter", "mastodon", "bluesky"])
@pytest.mark.lost_answer
async def test_an_answer_lost_on_a_later_part_is_settled_by_finding_that_part(
    engine: Engine,  # noqa: F811
    platform: str,
) -> None:
    parts = (f"Chaos first on {platform}", "Chaos second", "Chaos third")
    post = await start(engine, platform, *parts)
    await engine.tick()  # the first part is out
    path = {
        "twitter": "^/2/tweets$",
        "mastodon": "^/api/v1/statuses$",
        "bluesky": "com.atproto.repo.createRecord$",
    }[platform]
    # The network creates the second part, but its answer arrives after T21 stopped waiting.
    engine.world.control(
        platform,
        "POST",
        "/faults",
        {"path": path, "method": "POST", "status": 200, "lose_response": True, "delay_s": 1.5},
    )
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert [p["status"] for p in target["parts"]] == ["published", "publishing", "pending"]
    # Past the attempt's lease the reaper finds the part at the network, and the chain goes on.
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    for text in parts:
        assert len(send_of(engine, platform, text)) == 1, text
    ids = [part["external_id"] for part in target["parts"]]
    assert [s["reply_to"] for text in parts for s in send_of(engine, platform, text)] == [
        None,
        ids[0],
        ids[1],
    ]


@pytest.mark.parametrize("platform", THREADED)
async def test_a_worker_killed_between_parts_leaves_every_part_out_once(
    engine: Engine,  # noqa: F811
    platform: str,
) -> None:
    parts = (f"Killed first on {platform}", "Killed second", "Killed third")
    post = await start(engine, platform, *parts)
    await engine.tick()  # the first part is out
    [target] = (await engine.read(post["id"]))["targets"]
    # A worker takes the second part and dies before it sends anything.
    await engine.cut_off(target["id"])
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    for text in parts:
        assert [s["outcome"] for s in send_of(engine, platform, text)] == ["accepted"], text


# --- first comments ------------------------------------------------------------------------------


async def test_a_first_comment_goes_out_once_after_the_post(engine: Engine) -> None:  # noqa: F811
    account_id = await connect(engine, "facebook")
    body: dict[str, Any] = {
        "content": "Fresh bread today",
        "targets": [{"social_account_id": account_id, "options": {"first_comment": "Ask us!"}}],
    }
    post = (await engine.create(**body)).json()
    [target] = post["targets"]
    assert target["first_comment"] == {"status": "pending", "external_id": None, "permalink": None}
    answer = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert answer.status_code == 202, answer.text
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert target["parts"] == []
    assert target["first_comment"]["status"] == "published"
    [post_send] = send_of(engine, "facebook", "Fresh bread today")
    [comment_send] = send_of(engine, "facebook", "Ask us!")
    assert comment_send["kind"] == "comment"
    assert comment_send["reply_to"] == target["external_id"]
    assert post_send["number"] < comment_send["number"]
    assert target["first_comment"]["external_id"]


@pytest.mark.lost_answer
async def test_a_first_comment_whose_answer_was_lost_is_found_not_sent_again(
    engine: Engine,  # noqa: F811
) -> None:
    account_id = await connect(engine, "facebook")
    body: dict[str, Any] = {
        "content": "Doubtful comment ahead",
        "targets": [{"social_account_id": account_id, "options": {"first_comment": "Once"}}],
    }
    post = (await engine.create(**body)).json()
    answer = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert answer.status_code == 202, answer.text
    await engine.tick()  # the post is out
    engine.world.control(
        "facebook",
        "POST",
        "/faults",
        {"path": "/comments$", "method": "POST", "status": 200, "lose_response": True,
         "delay_s": 1.5},
    )  # fmt: skip
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["first_comment"]["status"] == "publishing"
    with clock.frozen(lambda: datetime.now(UTC) + timedelta(seconds=30)):
        done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert len(send_of(engine, "facebook", "Once")) == 1
    assert target["first_comment"]["status"] == "published"


async def test_first_comments_are_refused_where_the_network_has_none_or_too_long(
    engine: Engine,  # noqa: F811
) -> None:
    x_account = await connect(engine, "twitter")
    refused = await engine.create(
        expect=None,
        content="No comments on X here",
        targets=[{"social_account_id": x_account, "options": {"first_comment": "Hi"}}],
    )
    assert_problem(refused, 422, "validation_error")
    [entry] = refused.json()["errors"]
    assert entry["rule"] == "invalid_options"
    page = await connect(engine, "facebook")
    refused = await engine.create(
        expect=None,
        content="Too much to say",
        targets=[{"social_account_id": page, "options": {"first_comment": "z" * 8001}}],
    )
    assert_problem(refused, 422, "validation_error")
    [entry] = refused.json()["errors"]
    assert entry["loc"] == ["body", "targets", 0, "options", "first_comment"]
    assert entry["rule"] == "first_comment"


async def test_an_instagram_first_comment_goes_out_once_on_the_published_media(
    public_engine: Engine,  # noqa: F811
) -> None:
    account_id = await connect(public_engine, "instagram")
    photo = await public_engine.upload()
    body: dict[str, Any] = {
        "content": "A photo with a comment",
        "media_ids": [photo],
        "targets": [{"social_account_id": account_id, "options": {"first_comment": "#bread"}}],
    }
    post = (await public_engine.create(**body)).json()
    answer = await public_engine.api.post(
        f"{POSTS}/{post['id']}/publish", headers=public_engine.owner.headers
    )
    assert answer.status_code == 202, answer.text
    done = await run_until_settled(public_engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert target["first_comment"]["status"] == "published"
    [comment_send] = send_of(public_engine, "instagram", "#bread")
    assert (comment_send["kind"], comment_send["reply_to"]) == ("comment", target["external_id"])


@pytest.mark.parametrize("platform", ["linkedin", "linkedin_page"])
async def test_a_linkedin_first_comment_goes_out_once_as_the_author(
    engine: Engine,  # noqa: F811
    platform: str,
) -> None:
    account_id = await connect(engine, platform)
    text = f"Hiring on {platform.replace('_', ' ')}"  # no LinkedIn escapes
    body: dict[str, Any] = {
        "content": text,
        "targets": [{"social_account_id": account_id, "options": {"first_comment": "Apply!"}}],
    }
    post = (await engine.create(**body)).json()
    answer = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert answer.status_code == 202, answer.text
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    assert target["first_comment"]["status"] == "published"
    [post_send] = send_of(engine, platform, text)
    [comment_send] = send_of(engine, platform, "Apply!")
    assert (comment_send["kind"], comment_send["reply_to"]) == ("comment", target["external_id"])
    assert comment_send["account"] == post_send["account"]


async def test_the_platforms_list_says_which_networks_take_threads_and_first_comments(
    engine: Engine,  # noqa: F811
) -> None:
    listed = await engine.api.get("/api/v1/platforms")
    assert listed.status_code == 200, listed.text
    by_name = {item["name"]: item for item in listed.json()["items"]}
    threaded = {name for name, item in by_name.items() if item["supports_threads"]}
    commented = {name for name, item in by_name.items() if item["supports_first_comment"]}
    assert threaded == set(THREADED)
    assert commented == {"instagram", "facebook", "linkedin", "linkedin_page", "youtube"}
    assert by_name["instagram"]["max_comment"] == 2200
    assert by_name["twitter"]["max_comment"] is None


async def test_a_part_in_review_resolved_as_not_published_is_sent_and_the_chain_goes_on(
    engine: Engine,  # noqa: F811
) -> None:
    parts = ("Reviewed first", "Reviewed second", "Reviewed third")
    # X: no idempotency key to settle a doubt by repeating (Mastodon's would).
    post = await start(engine, "twitter", *parts)
    await engine.tick()  # the first part is out
    [target] = (await engine.read(post["id"]))["targets"]
    # A worker dies on the second part, and X can't list the account's posts meanwhile.
    engine.world.control(
        "twitter",
        "POST",
        "/faults",
        {"path": "/tweets$", "method": "GET", "status": 503, "count": 20},
    )
    await engine.cut_off(target["id"])
    await engine.tick_once_the_reaper_gives_up()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "needs_review", target
    assert [p["status"] for p in target["parts"]] == ["published", "needs_review", "pending"]
    resolved = await engine.api.post(
        f"{POSTS}/{post['id']}/targets/{target['id']}/resolve",
        json={"outcome": "not_published", "action": "retry"},
        headers=engine.owner.headers,
    )
    assert resolved.status_code == 200, resolved.text
    done = await run_until_settled(engine, post["id"])
    [target] = done["targets"]
    assert target["status"] == "published", target
    for text in parts:
        assert len(send_of(engine, "twitter", text)) == 1, text
