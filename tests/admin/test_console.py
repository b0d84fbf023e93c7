"""The operator console: staff only (anonymous visitors and other users are kept out), every
form guarded by its CSRF token, and every action effective and audited as staff in the
organization concerned."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from t21.audit.models import AuditEntry
from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import PostTarget, TargetReview, TargetStatus
from t21.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.admin.conftest import Console, challenge_of, csrf_of, make_staff
from tests.publishing.conftest import Engine
from tests.support.accounts import Account, register

PAGES = ("/admin", "/admin/pipeline", "/admin/loops", "/admin/webhooks", "/admin/emails")


async def _audit(engine: Engine, action: str) -> list[AuditEntry]:
    async with session_scope(engine.world.runtime) as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def _target(engine: Engine, target_id: str) -> PostTarget:
    async with session_scope(engine.world.runtime) as session:
        found = await session.get(PostTarget, uuid.UUID(target_id))
        assert found is not None
        return found


async def _target_in(engine: Engine, status: TargetStatus, content: str) -> dict[str, Any]:
    post = await engine.publish_now("twitter", content=content)
    await engine.change_target(
        post["targets"][0]["id"],
        status=status,
        attempts=3,
        due_at=None,
        attempt_started_at=clock.now() - timedelta(minutes=1),
        last_error_code="needs_review" if status is TargetStatus.NEEDS_REVIEW else "rejected",
        last_error_message="The network said no.",
    )
    return post


# --- who gets in ----------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_the_sign_in_page(console: Console) -> None:
    for path in (*PAGES, f"/admin/organizations/{uuid.uuid4()}"):
        answer = await console.page(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/admin/sign-in?next=%2Fadmin"), path
    refused = await console.http.post(f"/admin/targets/{uuid.uuid4()}/retry", data={"csrf": "x"})
    assert refused.status_code == 403


async def test_a_user_who_is_not_staff_is_refused_and_gets_no_session(
    console: Console, engine: Engine
) -> None:
    answer = await console.sign_in(engine.owner.email)
    assert answer.status_code == 403
    assert "not T21 staff" in answer.text
    assert "t21_admin" not in console.http.cookies
    # Their API token is no console session either.
    for path in PAGES:
        page = await console.http.get(path, headers=engine.owner.headers)
        assert page.status_code == 303, path


async def test_a_wrong_password_is_refused_with_the_form_again(
    console: Console, staff: Account
) -> None:
    answer = await console.sign_in(staff.email, "not the password at all")
    assert answer.status_code == 401
    assert 'id="sign-in"' in answer.text
    assert "t21_admin" not in console.http.cookies


async def test_staff_see_every_page_under_a_strict_policy(signed_in: Console) -> None:
    for path in PAGES:
        page = await signed_in.page(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy  # no script at all
        assert page.headers["cache-control"] == "no-store"
    style = await signed_in.page("/admin/admin.css")
    assert style.headers["content-type"].startswith("text/css")


async def test_the_session_cookie_is_http_only_and_same_site_strict(
    console: Console, staff: Account
) -> None:
    answer = await console.sign_in(staff.email)
    assert answer.status_code == 303
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("t21_admin=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/admin" in cookie


async def test_staff_with_two_factors_give_their_code_before_getting_in(
    console: Console, engine: Engine, staff: Account
) -> None:
    started = await engine.api.post("/api/v1/auth/2fa/totp", headers=staff.headers)
    assert started.status_code == 201, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = await engine.api.post(
        "/api/v1/auth/2fa/totp/confirm", json={"code": totp.now()}, headers=staff.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    asked = await console.sign_in(staff.email)
    assert asked.status_code == 200
    assert 'id="second-factor"' in asked.text
    assert "t21_admin" not in console.http.cookies
    form = {"csrf": csrf_of(asked.text), "challenge": challenge_of(asked.text)}
    wrong = await console.http.post("/admin/sign-in/second-factor", data={**form, "code": "000000"})
    assert wrong.status_code == 401
    assert "t21_admin" not in console.http.cookies
    later = clock.now() + timedelta(seconds=30)  # the confirmation spent this step's code
    right = await console.http.post(
        "/admin/sign-in/second-factor", data={**form, "code": totp.at(later)}
    )
    assert right.status_code == 303, right.text
    assert (await console.page("/admin")).status_code == 200


async def test_revoking_the_staff_flag_ends_console_sessions_at_once(
    signed_in: Console, engine: Engine, staff: Account
) -> None:
    assert (await signed_in.page("/admin")).status_code == 200
    await make_staff(engine.world.runtime, staff.email, staff=False)
    assert (await signed_in.page("/admin")).status_code == 303
    [revoked] = await _audit(engine, "staff.revoked")
    assert revoked.organization_id == staff.personal_organization_id
    assert revoked.actor_type == "staff"


async def test_signing_out_ends_the_session(signed_in: Console) -> None:
    jar = signed_in.http.cookies.jar
    [cookie] = [c for c in jar if c.name == "t21_admin"]
    jar.clear()
    jar.set_cookie(cookie)  # the cookie alone, set again, is a session
    assert (await signed_in.page("/admin")).status_code == 200
    answer = await signed_in.act("/admin/sign-out", page="/admin")
    assert answer.status_code == 303
    assert (await signed_in.page("/admin")).status_code == 303
    # The old cookie, replayed, is dead too: the sign-in itself was ended.
    jar.set_cookie(cookie)
    assert (await signed_in.page("/admin")).status_code == 303


async def test_the_api_cannot_make_anyone_staff(engine: Engine) -> None:
    answer = await engine.api.patch(
        "/api/v1/auth/me", json={"is_staff": True}, headers=engine.owner.headers
    )
    assert answer.status_code == 422
    async with session_scope(engine.world.runtime) as session:
        from t21.identity.models import User

        user = await session.get(User, engine.owner.user_id)
        assert user is not None
        assert user.is_staff is False


# --- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged", "wrong-but-long-enough-to-look-real-0000"])
async def test_a_form_without_its_csrf_token_changes_nothing(
    signed_in: Console, engine: Engine, token: str | None
) -> None:
    post = await _target_in(engine, TargetStatus.FAILED, f"CSRF {token}")
    target_id = post["targets"][0]["id"]
    data = {"csrf": token} if token is not None else {}
    answer = await signed_in.http.post(f"/admin/targets/{target_id}/retry", data=data)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await _target(engine, target_id)).status is TargetStatus.FAILED
    assert await _audit(engine, "target.retried") == []


async def test_the_sign_in_form_needs_its_own_token(console: Console, staff: Account) -> None:
    answer = await console.http.post(
        "/admin/sign-in", data={"email": staff.email, "password": staff.password}
    )
    assert answer.status_code == 403
    assert "t21_admin" not in console.http.cookies


# --- pages --------------------------------------------------------------------------------------


async def test_search_finds_users_and_organizations(signed_in: Console, engine: Engine) -> None:
    other = await register(engine.api, "zed.customer@example.com", name="Zed Customer")
    found = await signed_in.page("/admin?q=zed.customer")
    assert found.status_code == 200
    assert "zed.customer@example.com" in found.text
    assert f"/admin/organizations/{other.personal_organization_id}" in found.text
    by_id = await signed_in.page(f"/admin?q={other.personal_organization_id}")
    assert 'id="organizations"' in by_id.text
    nothing = await signed_in.page("/admin?q=%25")  # a LIKE wildcard matches itself only
    assert "No user matches." in nothing.text


async def test_an_organization_shows_plan_usage_members_and_token_health(
    signed_in: Console, engine: Engine
) -> None:
    await engine.account("twitter")
    await _target_in(engine, TargetStatus.FAILED, "Counted in the pipeline")
    page = await signed_in.page(f"/admin/organizations/{engine.owner.personal_organization_id}")
    assert page.status_code == 200
    assert 'data-field="tier">free<' in page.text
    assert engine.owner.email in page.text
    assert "twitter" in page.text
    assert 'data-field="health">ok<' in page.text
    assert "failed: 1" in page.text
    missing = await signed_in.page(f"/admin/organizations/{uuid.uuid4()}")
    assert "No such organization." in missing.text


async def test_the_pipeline_counts_by_network_and_lists_reasons(
    signed_in: Console, engine: Engine
) -> None:
    await _target_in(engine, TargetStatus.NEEDS_REVIEW, "In doubt")
    await _target_in(engine, TargetStatus.FAILED, "Refused")
    page = await signed_in.page("/admin/pipeline?status=failed")
    assert page.status_code == 200
    assert "<td>twitter</td>" in page.text
    assert "rejected" in page.text
    assert "The network said no." in page.text
    bad = await signed_in.page("/admin/pipeline?status=everything")
    assert bad.status_code == 422


async def test_the_loops_page_shows_each_loops_last_success(
    signed_in: Console, engine: Engine
) -> None:
    await engine.loops.run_once("publishing.dispatch")
    page = await signed_in.page("/admin/loops")
    row = page.text.split('data-loop="publishing.dispatch"', 1)[1].split("</tr>", 1)[0]
    assert "UTC" in row


async def test_the_outbox_lists_emails_without_their_bodies(
    signed_in: Console, engine: Engine
) -> None:
    await engine.world.drain()
    page = await signed_in.page("/admin/emails")
    assert engine.owner.email in page.text
    assert "verify-email?token=" not in page.text


# --- actions ------------------------------------------------------------------------------------


async def test_resolving_a_target_as_published_is_effective_and_audited(
    signed_in: Console, engine: Engine, staff: Account
) -> None:
    post = await _target_in(engine, TargetStatus.NEEDS_REVIEW, "Posted after all")
    target_id = post["targets"][0]["id"]
    answer = await signed_in.act(
        f"/admin/targets/{target_id}/resolve", outcome="published", external_id="1789"
    )
    assert answer.status_code == 303, answer.text
    target = await _target(engine, target_id)
    assert (target.status, target.external_id) == (TargetStatus.PUBLISHED, "1789")
    [entry] = await _audit(engine, "target.resolved")
    assert entry.organization_id == engine.owner.personal_organization_id
    assert (entry.actor_type, entry.actor_id) == ("staff", str(staff.user_id))
    assert entry.details["outcome"] == "published"
    assert entry.details["external_id"] == "1789"
    async with session_scope(engine.world.runtime) as session:
        [review] = list(await session.scalars(select(TargetReview)))
    assert review.user_id == staff.user_id
    # The organization's own log shows it, as staff.
    log = await engine.api.get(
        f"/api/v1/organizations/{engine.owner.personal_organization_id}/audit-log",
        params={"action": "target.resolved"},
        headers=engine.owner.headers,
    )
    assert log.json()["items"][0]["actor"]["type"] == "staff"
    again = await signed_in.act(
        f"/admin/targets/{target_id}/resolve", outcome="published", external_id="1789"
    )
    assert again.status_code == 409


async def test_resolving_as_not_published_cancels_the_target(
    signed_in: Console, engine: Engine
) -> None:
    post = await _target_in(engine, TargetStatus.NEEDS_REVIEW, "Never went out")
    target_id = post["targets"][0]["id"]
    answer = await signed_in.act(f"/admin/targets/{target_id}/resolve", outcome="not_published")
    assert answer.status_code == 303
    assert (await _target(engine, target_id)).status is TargetStatus.CANCELLED
    [entry] = await _audit(engine, "target.resolved")
    assert (entry.details["outcome"], entry.details["action"]) == ("not_published", "cancel")
    missing_id = await signed_in.act(f"/admin/targets/{target_id}/resolve", outcome="published")
    assert missing_id.status_code == 422


async def test_retrying_a_failed_target_sends_it_out_again(
    signed_in: Console, engine: Engine
) -> None:
    post = await _target_in(engine, TargetStatus.FAILED, "Second chance")
    target_id = post["targets"][0]["id"]
    answer = await signed_in.act(f"/admin/targets/{target_id}/retry")
    assert answer.status_code == 303
    assert "notice=retried" in answer.headers["location"]
    target = await _target(engine, target_id)
    assert (target.status, target.attempts) == (TargetStatus.SCHEDULED, 0)
    [entry] = await _audit(engine, "target.retried")
    assert entry.details["from"] == "failed"
    assert entry.actor_type == "staff"
    await engine.tick()
    assert (await engine.read(post["id"]))["targets"][0]["status"] == "published"
    published_again = await signed_in.act(f"/admin/targets/{target_id}/retry")
    assert published_again.status_code == 409


async def test_retrying_a_target_in_review_goes_through_the_review(
    signed_in: Console, engine: Engine
) -> None:
    post = await _target_in(engine, TargetStatus.NEEDS_REVIEW, "Try once more")
    target_id = post["targets"][0]["id"]
    answer = await signed_in.act(f"/admin/targets/{target_id}/retry")
    assert answer.status_code == 303
    assert (await _target(engine, target_id)).status is TargetStatus.SCHEDULED
    [entry] = await _audit(engine, "target.resolved")
    assert (entry.details["outcome"], entry.details["action"]) == ("not_published", "retry")


async def test_redelivering_a_failed_webhook_delivery_is_effective_and_audited(
    signed_in: Console, engine: Engine
) -> None:
    created = await engine.api.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=engine.owner.headers
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    tested = await engine.api.post(
        f"/api/v1/webhooks/{endpoint_id}/test", headers=engine.owner.headers
    )
    assert tested.status_code == 202, tested.text
    await engine.world.drain()
    async with session_scope(engine.world.runtime) as session:
        delivery = await session.scalar(select(WebhookDelivery))
        assert delivery is not None
        delivery.status = DeliveryStatus.FAILED
        delivery.due_at = None
    page = await signed_in.page("/admin/webhooks?status=failed")
    assert str(delivery.id) in page.text
    answer = await signed_in.act(
        f"/admin/deliveries/{delivery.id}/retry", page="/admin/webhooks?status=failed"
    )
    assert answer.status_code == 303, answer.text
    async with session_scope(engine.world.runtime) as session:
        again = await session.get(WebhookDelivery, delivery.id)
        assert again is not None
        assert again.status is DeliveryStatus.PENDING
    [entry] = await _audit(engine, "webhook.delivery_retried")
    assert entry.organization_id == engine.owner.personal_organization_id
    assert (entry.actor_type, entry.details["from"]) == ("staff", "failed")


async def test_bad_input_is_a_problem_that_changes_nothing(
    signed_in: Console, engine: Engine
) -> None:
    for path in ("/admin?q=a%00b", "/admin/webhooks?before=nope", "/admin/emails?status=lost"):
        answer = await signed_in.page(path)
        assert answer.status_code == 422, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    post = await _target_in(engine, TargetStatus.NEEDS_REVIEW, "NUL in the id")
    target_id = post["targets"][0]["id"]
    answer = await signed_in.act(
        f"/admin/targets/{target_id}/resolve", outcome="published", external_id="17\x0089"
    )
    assert answer.status_code == 422
    assert (await _target(engine, target_id)).status is TargetStatus.NEEDS_REVIEW
