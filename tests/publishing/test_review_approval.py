"""Resolving a target in `needs_review` on a brand that requires approval: a member's retry of
a post nobody approved waits for an approver instead of going out."""

from __future__ import annotations

from tests.core.test_http import assert_problem
from tests.publishing.conftest import Engine
from tests.publishing.test_review import in_review, resolve
from tests.review.helpers import act, event_types, member, require_approval

RETRY = {"outcome": "not_published", "action": "retry"}


async def test_a_members_retry_of_a_post_not_approved_waits_for_an_approver(
    engine: Engine,
) -> None:
    post = await in_review(engine, "Held back until approved")
    await require_approval(engine)
    writer = await member(engine)
    answer = await resolve(engine, post, RETRY, headers=writer.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "pending_approval"
    [target] = body["targets"]
    assert (target["status"], target["next_attempt_at"]) == ("pending_approval", None)
    assert body["approval"]["status"] == "pending"
    assert (await event_types(engine, post["id"]))[-1] == "post.approval_requested"
    await engine.tick()
    assert engine.published_at_network("twitter") == []

    # Resolved already: a second word on it is refused.
    assert_problem(await resolve(engine, post, RETRY, headers=writer.headers), 409, "conflict")
    # Its time is long past, yet approving a retry sends it at once, and once.
    approved = await act(engine, engine.owner.headers, post["id"], "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["targets"][0]["status"] == "scheduled"
    await engine.tick()
    assert (await engine.read(post["id"]))["status"] == "published"
    assert len(engine.published_at_network("twitter")) == 1


async def test_an_admins_retry_or_a_retry_of_an_approved_post_goes_out_directly(
    engine: Engine,
) -> None:
    await require_approval(engine)
    by_admin = await in_review(engine, "An admin retries it")
    answer = await resolve(engine, by_admin, RETRY)
    assert answer.status_code == 200, answer.text
    assert answer.json()["targets"][0]["status"] == "scheduled"

    writer = await member(engine)
    approved = await in_review(engine, "Approved before it was cut off")
    await engine.change_target(approved["targets"][0]["id"], status="pending_approval")
    assert (await act(engine, engine.owner.headers, approved["id"], "approve")).status_code == 200
    await engine.change_target(approved["targets"][0]["id"], status="needs_review")
    answer = await resolve(engine, approved, RETRY, headers=writer.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["targets"][0]["status"] == "scheduled"
    assert answer.json()["approval"]["status"] == "approved"
    await engine.tick()
    assert len(engine.published_at_network("twitter")) == 2
