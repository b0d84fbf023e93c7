"""Webhook endpoints through the API, delivering to a real HTTP receiver on loopback; every
delivery is verified with the standardwebhooks library, independently of T21's signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections import Counter
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from t21.core import clock
from t21.core.settings import Environment
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.models import Base
from t21.webhooks import claims, delivery
from t21.webhooks.models import WebhookDelivery
from tests.support.accounts import add_member, create_api_key, emails_to, register
from tests.webhooks.conftest import WEBHOOKS, Hooks, Receiver, later

DAY = 24 * 3600.0


async def test_create_shows_the_secret_once_and_never_again(
    hooks: Hooks, receiver: Receiver
) -> None:
    created = await hooks.create(receiver.url(), description="orders")
    assert created["status"] == "enabled"
    assert created["events"] == ["*"]
    assert created["organization_id"] == str(hooks.org)
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32

    read = await hooks.api.get(f"{WEBHOOKS}/{created['id']}", headers=hooks.owner.headers)
    listed = await hooks.api.get(WEBHOOKS, headers=hooks.owner.headers)
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert secret not in read.text + listed.text


async def test_a_test_event_arrives_signed_and_verifies_with_the_endpoints_secret(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    event_id = await hooks.test_event(endpoint["id"])
    await hooks.jobs.drain(timeout=20)

    [request] = receiver.at("/hook")
    payload = request.verified(endpoint["secret"])
    assert request.webhook_id == event_id == payload["id"]
    assert payload["type"] == "webhook.test"
    assert payload["organization_id"] == str(hooks.org)
    assert payload["created_at"].endswith("Z")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"k" * 32).decode()).verify(
            request.body, request.headers
        )

    [delivery] = await hooks.deliveries(endpoint["id"], status="succeeded")
    assert delivery["event_id"] == event_id
    assert delivery["event_type"] == "webhook.test"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["delivered_at"] is not None
    detail = await hooks.delivery(endpoint["id"], delivery["id"])
    [attempt] = detail["attempt_log"]
    assert attempt["succeeded"] is True
    assert attempt["status_code"] == 200
    assert attempt["response_excerpt"].startswith("answer 200")
    assert len(attempt["response_excerpt"]) == 64  # capped
    assert attempt["duration_ms"] >= 0


async def test_a_test_event_goes_to_the_tested_endpoint_only(
    hooks: Hooks, receiver: Receiver
) -> None:
    tested = await hooks.create(receiver.url("/a"), events=["post.published"])
    await hooks.create(receiver.url("/b"))
    await hooks.test_event(tested["id"])
    await hooks.jobs.drain(timeout=20)
    assert len(receiver.at("/a")) == 1
    assert receiver.at("/b") == []


async def test_events_go_to_the_endpoints_subscribed_to_their_type(
    hooks: Hooks, receiver: Receiver
) -> None:
    published_only = await hooks.create(receiver.url("/published"), events=["post.published"])
    everything = await hooks.create(receiver.url("/all"))
    published = await hooks.emit("post.published", {"post": {"id": "p1"}})
    failed = await hooks.emit("post.failed", {"post": {"id": "p2"}})
    await hooks.deliver_due()

    assert [r.verified(published_only["secret"])["id"] for r in receiver.at("/published")] == [
        published
    ]
    assert sorted(r.verified(everything["secret"])["id"] for r in receiver.at("/all")) == sorted(
        [published, failed]
    )
    [request] = receiver.at("/published")
    assert request.verified(published_only["secret"])["data"] == {"post": {"id": "p1"}}


async def test_a_500_is_retried_and_then_delivered_with_the_same_webhook_id(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (500, 0.0))
    event_id = await hooks.emit("post.published")
    await hooks.deliver_due()

    [pending] = await hooks.deliveries(endpoint["id"], status="pending")
    assert pending["attempts"] == 1
    assert pending["last_status_code"] == 500
    assert "500" in pending["last_error"]
    assert pending["next_attempt_at"] is not None
    # Not due yet: the first retry waits T21_WEBHOOK_RETRY_BASE_S (30 s here).
    await hooks.deliver_due()
    assert len(receiver.at("/hook")) == 1

    with clock.frozen(later(60)):
        await hooks.deliver_due()
    first, second = receiver.at("/hook")
    assert first.webhook_id == second.webhook_id == event_id
    assert first.verified(endpoint["secret"]) == second.verified(endpoint["secret"])
    assert first.body == second.body
    [delivered] = await hooks.deliveries(endpoint["id"], status="succeeded")
    assert delivered["attempts"] == 2
    detail = await hooks.delivery(endpoint["id"], delivered["id"])
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 200]
    assert detail["attempt_log"][0]["response_excerpt"].startswith("answer 500")


@pytest.mark.lost_answer
async def test_a_timeout_is_retried_and_then_delivered(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (200, 1.5))  # longer than T21_WEBHOOK_TIMEOUT_S (0.5 s here)
    event_id = await hooks.emit("post.published")
    await hooks.deliver_due()
    [pending] = await hooks.deliveries(endpoint["id"], status="pending")
    assert pending["last_status_code"] is None
    assert "no answer within" in pending["last_error"]

    with clock.frozen(later(60)):
        await hooks.deliver_due()
    assert {r.webhook_id for r in receiver.at("/hook")} == {event_id}
    [delivered] = await hooks.deliveries(endpoint["id"], status="succeeded")
    assert delivered["attempts"] == 2


async def test_a_redirect_is_not_followed(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (302, 0.0))
    await hooks.emit("post.published")
    await hooks.deliver_due()
    [pending] = await hooks.deliveries(endpoint["id"], status="pending")
    assert pending["last_status_code"] == 302
    assert "redirects are not followed" in pending["last_error"]


async def test_a_disabled_endpoint_receives_nothing(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (503, 0.0))
    await hooks.emit("post.published")
    await hooks.deliver_due()

    response = await hooks.api.patch(
        f"{WEBHOOKS}/{endpoint['id']}", json={"status": "disabled"}, headers=hooks.owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disabled"
    assert response.json()["disabled_reason"] == "manual"
    await hooks.emit("post.failed")
    tested = await hooks.api.post(f"{WEBHOOKS}/{endpoint['id']}/test", headers=hooks.owner.headers)
    assert tested.status_code == 409
    with clock.frozen(later(3600)):
        await hooks.deliver_due()

    assert len(receiver.at("/hook")) == 1  # the attempt before it was disabled
    [failed] = await hooks.deliveries(endpoint["id"], status="failed")
    assert "disabled" in failed["last_error"]
    assert await hooks.deliveries(endpoint["id"], status="pending") == []
    retry = await hooks.api.post(
        f"{WEBHOOKS}/{endpoint['id']}/deliveries/{failed['id']}/retry", headers=hooks.owner.headers
    )
    assert retry.status_code == 409


async def test_a_failed_delivery_is_retried_by_hand_with_the_same_webhook_id(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (500, 0.0))
    event_id = await hooks.emit("post.published")
    await hooks.deliver_due()
    [pending] = await hooks.deliveries(endpoint["id"])

    retry = await hooks.api.post(
        f"{WEBHOOKS}/{endpoint['id']}/deliveries/{pending['id']}/retry",
        headers=hooks.owner.headers,
    )
    assert retry.status_code == 202, retry.text
    await hooks.jobs.drain(timeout=20)
    assert [r.webhook_id for r in receiver.at("/hook")] == [event_id, event_id]
    [delivered] = await hooks.deliveries(endpoint["id"], status="succeeded")
    assert delivered["id"] == pending["id"]

    # A delivered event can be replayed too.
    replay = await hooks.api.post(
        f"{WEBHOOKS}/{endpoint['id']}/deliveries/{pending['id']}/retry",
        headers=hooks.owner.headers,
    )
    assert replay.status_code == 202
    await hooks.jobs.drain(timeout=20)
    assert len(receiver.at("/hook")) == 3


async def test_rotation_keeps_deliveries_verifiable(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = await hooks.create(receiver.url())
    old = endpoint["secret"]
    rotated = await hooks.api.post(
        f"{WEBHOOKS}/{endpoint['id']}/rotate-secret", headers=hooks.owner.headers
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert rotated.json()["previous_secret_expires_at"] is not None

    await hooks.test_event(endpoint["id"])
    await hooks.jobs.drain(timeout=20)
    [during] = receiver.at("/hook")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified(old) == during.verified(new)

    with clock.frozen(later(DAY + 60)):
        await hooks.emit("post.published")
        await hooks.deliver_due()
    after = receiver.at("/hook")[1]
    after.verified(new)
    with pytest.raises(WebhookVerificationError):
        after.verified(old)


async def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_owners_emailed(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", *[(500, 0.0)] * 10)
    await hooks.emit("post.published")
    await hooks.deliver_due()
    with clock.frozen(later(DAY)):
        await hooks.deliver_due()
    read = await hooks.api.get(f"{WEBHOOKS}/{endpoint['id']}", headers=hooks.owner.headers)
    assert read.json()["status"] == "enabled"
    assert read.json()["failing_since"] is not None

    with clock.frozen(later(3 * DAY + 60)):
        await hooks.deliver_due()
    read = await hooks.api.get(f"{WEBHOOKS}/{endpoint['id']}", headers=hooks.owner.headers)
    assert read.json()["status"] == "disabled"
    assert read.json()["disabled_reason"] == "failing"
    [failed] = await hooks.deliveries(endpoint["id"], status="failed")
    assert failed["attempts"] == 3
    await hooks.jobs.drain(timeout=20)
    [email] = [
        m
        for m in emails_to(hooks.runtime.settings, hooks.owner.email)
        if "stopped sending webhooks" in str(m["Subject"])
    ]
    text = email.get_body(preferencelist=("plain",))
    assert isinstance(text, EmailMessage)
    assert receiver.url() in text.get_content()


async def test_a_success_within_the_window_keeps_the_endpoint_enabled(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (500, 0.0))
    await hooks.emit("post.published")
    await hooks.deliver_due()
    with clock.frozen(later(DAY)):
        await hooks.deliver_due()  # succeeds
    receiver.script("/hook", (500, 0.0), (500, 0.0))
    with clock.frozen(later(2 * DAY)):
        await hooks.emit("post.failed")
        await hooks.deliver_due()
    with clock.frozen(later(3 * DAY + 60)):
        await hooks.deliver_due()
    read = await hooks.api.get(f"{WEBHOOKS}/{endpoint['id']}", headers=hooks.owner.headers)
    assert read.json()["status"] == "enabled"
    assert read.json()["last_success_at"] is not None


async def test_the_ssrf_guard_refuses_private_targets_in_production(
    hooks: Hooks, receiver: Receiver
) -> None:
    # Registered while not in production: a name that resolves to loopback, and a plain
    # loopback URL. Deliveries to both are refused at send time once in production.
    sneaky = await hooks.create("https://2130706433:1/hook")  # 127.0.0.1 as one number
    local = await hooks.create(receiver.url())
    settings = hooks.runtime.settings
    settings.env = Environment.PRODUCTION
    try:
        for url in (
            receiver.url(),  # http
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.1.2.3/hook",
            "https://192.168.0.10/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://100.64.0.1/hook",
            "https://user:pw@hooks.example.com/",
        ):
            response = await hooks.api.post(
                WEBHOOKS, json={"url": url}, headers=hooks.owner.headers
            )
            assert response.status_code == 422, (url, response.text)
            assert response.json()["errors"][0]["loc"] == ["body", "url"]
        await hooks.test_event(sneaky["id"])
        await hooks.test_event(local["id"])
        await hooks.jobs.drain(timeout=20)
    finally:
        settings.env = Environment.TEST
    assert receiver.received == []
    [refused] = await hooks.deliveries(sneaky["id"], status="pending")
    assert "not public" in refused["last_error"]
    [refused] = await hooks.deliveries(local["id"], status="pending")
    assert "https" in refused["last_error"]


async def test_outside_production_only_loopback_may_use_http(hooks: Hooks) -> None:
    for url in ("http://example.com/hook", "ftp://127.0.0.1/", "not a url", "http:///x"):
        response = await hooks.api.post(WEBHOOKS, json={"url": url}, headers=hooks.owner.headers)
        assert response.status_code == 422, (url, response.text)
    for url in ("http://localhost:9000/hook", "http://127.0.0.1:9/x", "https://example.com/h"):
        await hooks.create(url)


async def test_bad_input_is_refused_and_nothing_is_created(
    hooks: Hooks, receiver: Receiver
) -> None:
    for body in (
        {"url": receiver.url(), "events": ["nope"]},
        {"url": receiver.url(), "events": ["post.publised"]},
        {"url": receiver.url(), "events": []},
        {"url": receiver.url(), "secret": "whsec_mine"},
        {"url": "x" * 3000},
    ):
        response = await hooks.api.post(WEBHOOKS, json=body, headers=hooks.owner.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    endpoint = await hooks.create(receiver.url())
    bad_status = await hooks.api.get(
        f"{WEBHOOKS}/{endpoint['id']}/deliveries?status=sent", headers=hooks.owner.headers
    )
    assert bad_status.status_code == 422
    missing = await hooks.api.get(f"{WEBHOOKS}/{uuid.uuid4()}", headers=hooks.owner.headers)
    assert missing.status_code == 404
    listed = await hooks.api.get(WEBHOOKS, headers=hooks.owner.headers)
    assert len(listed.json()["items"]) == 1


async def test_another_organization_sees_nothing_and_receives_nothing(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url("/mine"))
    await hooks.emit("post.published")
    await hooks.deliver_due()
    [delivery] = await hooks.deliveries(endpoint["id"])

    stranger = await register(hooks.api)
    theirs = await hooks.create(receiver.url("/theirs"), account=stranger)
    for method, path in (
        ("GET", f"{WEBHOOKS}/{endpoint['id']}"),
        ("PATCH", f"{WEBHOOKS}/{endpoint['id']}"),
        ("DELETE", f"{WEBHOOKS}/{endpoint['id']}"),
        ("POST", f"{WEBHOOKS}/{endpoint['id']}/rotate-secret"),
        ("POST", f"{WEBHOOKS}/{endpoint['id']}/test"),
        ("GET", f"{WEBHOOKS}/{endpoint['id']}/deliveries"),
        ("GET", f"{WEBHOOKS}/{endpoint['id']}/deliveries/{delivery['id']}"),
        ("POST", f"{WEBHOOKS}/{endpoint['id']}/deliveries/{delivery['id']}/retry"),
        ("GET", f"{WEBHOOKS}/{theirs['id']}/deliveries/{delivery['id']}"),
    ):
        body = {"description": "x"} if method == "PATCH" else None
        response = await hooks.api.request(method, path, headers=stranger.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
    listed = await hooks.api.get(WEBHOOKS, headers=stranger.headers)
    assert [item["id"] for item in listed.json()["items"]] == [theirs["id"]]
    assert receiver.at("/theirs") == []
    assert len(receiver.at("/mine")) == 1


async def test_only_admins_manage_webhooks(hooks: Hooks, receiver: Receiver) -> None:
    endpoint = await hooks.create(receiver.url())
    settings = hooks.runtime.settings
    member = await add_member(
        hooks.api,
        hooks.jobs,
        settings,
        inviter=hooks.owner,
        organization_id=hooks.org,
        role="member",
    )
    admin = await add_member(
        hooks.api,
        hooks.jobs,
        settings,
        inviter=hooks.owner,
        organization_id=hooks.org,
        role="admin",
    )
    body = {"url": receiver.url(), "organization_id": str(hooks.org)}
    refused = await hooks.api.post(WEBHOOKS, json=body, headers=member.headers)
    assert refused.status_code == 403
    read = await hooks.api.get(f"{WEBHOOKS}/{endpoint['id']}", headers=member.headers)
    assert read.status_code == 403
    listed = await hooks.api.get(WEBHOOKS, headers=member.headers)
    assert listed.json()["items"] == []
    allowed = await hooks.api.post(WEBHOOKS, json=body, headers=admin.headers)
    assert allowed.status_code == 201
    rotated = await hooks.api.post(
        f"{WEBHOOKS}/{endpoint['id']}/rotate-secret", headers=admin.headers
    )
    assert rotated.status_code == 200


async def test_deleting_an_endpoint_removes_its_deliveries(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    await hooks.emit("post.published")
    await hooks.deliver_due()
    assert len(receiver.at("/hook")) == 1
    deleted = await hooks.api.delete(f"{WEBHOOKS}/{endpoint['id']}", headers=hooks.owner.headers)
    assert deleted.status_code == 204
    await hooks.emit("post.failed")
    await hooks.deliver_due()
    assert len(receiver.at("/hook")) == 1
    async with session_scope(hooks.runtime) as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    gone = await hooks.api.get(f"{WEBHOOKS}/{endpoint['id']}", headers=hooks.owner.headers)
    assert gone.status_code == 404


async def test_a_slow_endpoint_holds_no_more_than_its_share_of_workers(
    hooks: Hooks, receiver: Receiver
) -> None:
    settings = hooks.runtime.settings
    settings.webhook_max_in_flight = 2
    slow = await hooks.create(receiver.url("/slow"))
    fast = await hooks.create(receiver.url("/fast"), events=["post.failed"])
    # Recorded outside a unit of work, so nothing wakes the dispatcher: claims are made below.
    async with hooks.runtime.sessionmaker() as session:
        for _ in range(5):
            await record_event(session, organization_id=hooks.org, type="post.published", data={})
            await record_event(session, organization_id=hooks.org, type="post.failed", data={})
        await session.commit()

    async with session_scope(hooks.runtime) as session:
        first = await claims.claim_due(session, settings)
        again = await claims.claim_due(session, settings)
    async with session_scope(hooks.runtime) as session:
        owners = {
            row.id: str(row.endpoint_id) for row in await session.scalars(select(WebhookDelivery))
        }
    per_endpoint = Counter(owners[claim.delivery_id] for claim in first)
    assert per_endpoint == {slow["id"]: 2, fast["id"]: 2}
    assert again == []  # both endpoints are at their bound until those attempts end

    # The fast endpoint's attempts end and hand their slots to its next deliveries, while the
    # slow endpoint's attempts still hold theirs.
    for claim in first:
        if owners[claim.delivery_id] == fast["id"]:
            await delivery.deliver(hooks.runtime, claim)
    await hooks.jobs.drain(timeout=20)
    assert len(receiver.at("/fast")) == 5
    assert receiver.at("/slow") == []
    async with session_scope(hooks.runtime) as session:
        assert await claims.claim_due(session, settings) == []


async def test_the_secret_is_kept_nowhere_in_the_clear(hooks: Hooks, receiver: Receiver) -> None:
    response = await hooks.api.post(
        WEBHOOKS,
        json={"url": receiver.url()},
        headers={**hooks.owner.headers, "Idempotency-Key": "create-hook-1"},
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    key = secret.removeprefix("whsec_")
    async with session_scope(hooks.runtime) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                assert key not in repr(row), table.name


async def test_a_binary_answer_is_logged_without_breaking_the_log(
    hooks: Hooks, receiver: Receiver
) -> None:
    endpoint = await hooks.create(receiver.url())
    receiver.script("/hook", (418, 0.0))  # answers NUL and a non-UTF-8 byte
    await hooks.emit("post.published")
    await hooks.deliver_due()
    [pending] = await hooks.deliveries(endpoint["id"], status="pending")
    detail = await hooks.delivery(endpoint["id"], pending["id"])
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] == 418
    assert attempt["response_excerpt"].startswith("answer 418 ")


async def test_viewers_and_member_keys_are_refused_and_admin_keys_allowed(
    hooks: Hooks, receiver: Receiver
) -> None:
    settings = hooks.runtime.settings
    viewer = await add_member(
        hooks.api,
        hooks.jobs,
        settings,
        inviter=hooks.owner,
        organization_id=hooks.org,
        role="viewer",
    )
    member_key = await create_api_key(hooks.api, hooks.owner, hooks.org, role="member")
    admin_key = await create_api_key(hooks.api, hooks.owner, hooks.org, role="admin")
    body = {"url": receiver.url(), "organization_id": str(hooks.org)}
    for headers in (viewer.headers, {"Authorization": f"Bearer {member_key['key']}"}):
        refused = await hooks.api.post(WEBHOOKS, json=body, headers=headers)
        assert refused.status_code == 403, refused.text
    created = await hooks.api.post(
        WEBHOOKS,
        json={"url": receiver.url()},
        headers={"Authorization": f"Bearer {admin_key['key']}"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["organization_id"] == str(hooks.org)
    no_auth = await hooks.api.get(WEBHOOKS)
    assert no_auth.status_code == 401


async def test_the_signature_is_the_specifications_hmac_of_id_timestamp_and_body(
    hooks: Hooks, receiver: Receiver
) -> None:
    """The scheme written out from the specification, without the library T21 signs with:
    base64(HMAC-SHA256(base64-decoded secret, "{webhook-id}.{webhook-timestamp}.{body}"))."""
    endpoint = await hooks.create(receiver.url())
    await hooks.test_event(endpoint["id"])
    await hooks.jobs.drain(timeout=20)
    [request] = receiver.at("/hook")
    key = base64.b64decode(endpoint["secret"].removeprefix("whsec_"))
    signed = (
        f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
        + request.body
    )
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"].split(" ") == [expected]
