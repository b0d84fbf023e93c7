"""Review links through the API: a signed, expiring link to one post that someone without an
account opens to see the post per network and to approve or reject it by name."""

from __future__ import annotations

from datetime import datetime, timedelta

from t21.core import clock
from tests.core.test_http import assert_problem
from tests.posts.conftest import POSTS, Desk
from tests.review.helpers import act, event_types, member, require_approval, scheduled

REVIEW = "/api/v1/review"


async def link(desk: Desk, post_id: str, **body: int) -> dict[str, str]:
    answer = await act(desk, desk.owner.headers, post_id, "review-links", body or None)
    assert answer.status_code == 201, answer.text
    made: dict[str, str] = answer.json()
    return made


async def test_a_reviewer_sees_the_post_per_network_and_approves_it_by_name(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    media_id = await desk.upload()
    x, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    created = await desk.api.post(
        POSTS,
        json={
            "brand_id": desk.brand_id,
            "content": "Our spring launch is here",
            "media_ids": [media_id],
            "targets": [
                {"social_account_id": x, "content": "Spring launch 🌷 https://example.com/spring"},
                {"social_account_id": linkedin},
            ],
            "scheduled_at": (clock.now() + timedelta(days=1)).isoformat(),
        },
        headers=writer.headers,
    )
    assert created.status_code == 201, created.text
    post = created.json()
    assert_problem(await act(desk, writer.headers, post["id"], "review-links"), 403, "forbidden")
    made = await link(desk, post["id"])
    assert made["url"].endswith(f"/review/{made['token']}")
    expires = datetime.fromisoformat(made["expires_at"])
    assert timedelta(hours=71) < expires - clock.now() <= timedelta(hours=72)

    shown = await desk.api.get(f"{REVIEW}/{made['token']}")  # no credentials
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert view["post_id"] == post["id"]
    assert view["brand_name"] == "Acme"
    assert view["status"] == "pending_approval"
    assert view["can_decide"] is True
    by_network = {target["network"]: target for target in view["targets"]}
    tweet = by_network["twitter"]
    assert tweet["text"] == "Spring launch 🌷 https://example.com/spring"
    # X counts an emoji as two and every link as 23.
    assert tweet["length"] == len("Spring launch ") + 2 + 1 + 23
    assert tweet["limit"] == 280
    assert tweet["network_name"] == "X"
    assert tweet["account"]["username"]
    assert [asset["id"] for asset in tweet["media"]] == [media_id]
    assert by_network["linkedin"]["text"] == "Our spring launch is here"
    assert by_network["linkedin"]["limit"] == 3000

    unnamed = await desk.api.post(f"{REVIEW}/{made['token']}", json={"decision": "approve"})
    body = assert_problem(unnamed, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "name"]
    wrong = await desk.api.post(
        f"{REVIEW}/{made['token']}", json={"decision": "maybe", "name": "Dana"}
    )
    assert_problem(wrong, 422, "validation_error")
    decided = await desk.api.post(
        f"{REVIEW}/{made['token']}",
        json={"decision": "approve", "name": "Dana at Client Co", "comment": "Lovely"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "scheduled"
    assert decided.json()["can_decide"] is False
    read = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert read.json()["status"] == "scheduled"
    assert read.json()["approval"]["decided_by"] == {
        "type": "reviewer",
        "id": None,
        "name": "Dana at Client Co",
    }
    assert read.json()["approval"]["comment"] == "Lovely"
    assert (await event_types(desk, post["id"]))[-2:] == ["post.approved", "post.scheduled"]
    me = (await desk.api.get("/api/v1/auth/me", headers=desk.owner.headers)).json()
    organization_id = me["memberships"][0]["organization"]["id"]
    log = await desk.api.get(
        f"/api/v1/organizations/{organization_id}/audit-log",
        params={"action": "post.approved"},
        headers=desk.owner.headers,
    )
    [entry] = log.json()["items"]
    assert entry["actor"] == {
        "type": "system",
        "id": None,
        "name": "Dana at Client Co (review link)",
    }
    assert entry["target"] == {"type": "post", "id": post["id"]}
    assert entry["details"]["comment"] == "Lovely"
    twice = await desk.api.post(
        f"{REVIEW}/{made['token']}", json={"decision": "reject", "name": "Dana"}
    )
    assert_problem(twice, 409, "conflict")


async def test_a_reviewer_rejects_and_the_post_goes_back_to_draft(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    made = await link(desk, post["id"], expires_in_hours=1)
    rejected = await desk.api.post(
        f"{REVIEW}/{made['token']}",
        json={"decision": "reject", "name": "Sam", "comment": "Wrong date"},
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "draft"
    approval = rejected.json()["approval"]
    assert approval["status"] == "rejected"
    assert approval["comment"] == "Wrong date"
    assert approval["decided_by"]["name"] == "Sam"
    assert (await event_types(desk, post["id"]))[-1] == "post.rejected"


async def test_tampered_voided_and_expired_links_show_nothing(desk: Desk) -> None:
    await require_approval(desk)
    writer = await member(desk)
    post = await scheduled(desk, writer.headers)
    for hours in (0, 721):
        bad = await act(
            desk, desk.owner.headers, post["id"], "review-links", {"expires_in_hours": hours}
        )
        assert_problem(bad, 422, "validation_error")
    made = await link(desk, post["id"], expires_in_hours=1)
    token = made["token"]
    head, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    other_id = "0" * 32
    forgeries = [
        f"{head}.{flipped}",
        f"{other_id}.{signature}",
        f"{head}.{signature[:-1]}\u00e9",
        "\u0661" * 32 + ".x",
        "nonsense",
        head,
        "x" * 150,
    ]
    for forged in forgeries:
        assert_problem(await desk.api.get(f"{REVIEW}/{forged}"), 404, "not_found")
        refused = await desk.api.post(
            f"{REVIEW}/{forged}", json={"decision": "approve", "name": "Eve"}
        )
        assert_problem(refused, 404, "not_found")
    with clock.frozen(clock.now() + timedelta(hours=1, seconds=1)):
        assert_problem(await desk.api.get(f"{REVIEW}/{token}"), 410, "link_expired")
        late = await desk.api.post(f"{REVIEW}/{token}", json={"decision": "approve", "name": "Al"})
        assert_problem(late, 410, "link_expired")
    still = await desk.api.get(f"{POSTS}/{post['id']}", headers=desk.owner.headers)
    assert still.json()["status"] == "pending_approval"

    fresh = await link(desk, post["id"])
    assert (await desk.api.get(f"{REVIEW}/{fresh['token']}")).status_code == 200
    edited = await desk.api.patch(
        f"{POSTS}/{post['id']}", json={"content": "Changed after the link"}, headers=writer.headers
    )
    assert edited.status_code == 200, edited.text
    assert_problem(await desk.api.get(f"{REVIEW}/{fresh['token']}"), 404, "not_found")
    voided = await desk.api.post(
        f"{REVIEW}/{fresh['token']}", json={"decision": "approve", "name": "Al"}
    )
    assert_problem(voided, 404, "not_found")
    # A link of another tenant's post can't be made.
    stranger_link = await desk.api.post(
        f"{POSTS}/{post['id']}/review-links",
        json={},
        headers=(await member(desk, "viewer")).headers,
    )
    assert_problem(stranger_link, 403, "forbidden")
