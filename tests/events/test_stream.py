"""The live stream: events as they happen, resumed without a gap, only the caller's."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from t21.core.uow import session_scope
from t21.events.hub import hub_of
from t21.events.models import Event
from t21.organizations.models import Organization
from tests.events.conftest import EVENTS, list_events, open_stream
from tests.publishing.conftest import Engine
from tests.support.accounts import add_member, create_api_key, register
from tests.support.redis_faults import swallow_cancelled_polls


async def test_a_change_reaches_an_open_stream_as_it_happens(engine: Engine) -> None:
    await engine.account("twitter")
    async with open_stream(engine.world.app, engine.owner.headers) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        post = await engine.draft("twitter", content="Live")
        created = await stream.next_event()
        assert created.name == "post.created"
        assert created.data is not None
        assert created.id == created.data["id"]
        assert created.data["data"]["id"] == post["id"]
        await engine.api.post(f"/api/v1/posts/{post['id']}/publish", headers=engine.owner.headers)
        scheduled = await stream.next_event()
        assert scheduled.name == "post.scheduled"
        await engine.tick()
        names = [event.name for event in await stream.events(2)]
        assert names == ["target.published", "post.published"]
    listed = (await list_events(engine.api, engine.owner.headers))["items"]
    assert [item["id"] for item in listed[-3:-1]] == [scheduled.id, created.id]


async def test_a_stream_starts_with_what_happens_next_not_the_past(engine: Engine) -> None:
    await engine.draft("twitter", content="Before")
    async with open_stream(engine.world.app, engine.owner.headers) as stream:
        await engine.draft("twitter", content="After")
        event = await stream.next_event()
        assert event.data is not None
        assert event.data["data"]["content"] == "After"
        await stream.nothing_more()


async def test_a_reconnect_with_last_event_id_gets_every_event_after_it_once(
    engine: Engine,
) -> None:
    for number in range(4):
        await engine.draft("twitter", content=f"Post {number}")
    listed = list(
        reversed(
            (await list_events(engine.api, engine.owner.headers, type="post.created"))["items"]
        )
    )
    resume = {**engine.owner.headers, "Last-Event-ID": listed[0]["id"]}
    async with open_stream(engine.world.app, resume) as stream:
        missed = await stream.events(3)
        assert [event.id for event in missed] == [item["id"] for item in listed[1:]]
        await engine.draft("twitter", content="Post 4")
        live = await stream.next_event()
        assert live.data is not None
        assert live.data["data"]["content"] == "Post 4"
        await stream.nothing_more()
    caught_up = {**engine.owner.headers, "Last-Event-ID": str(live.id)}
    async with open_stream(engine.world.app, caught_up) as stream:
        await stream.nothing_more()


async def test_an_idle_stream_sends_heartbeats(app_factory: Any, sandbox: str) -> None:
    app = app_factory(events_heartbeat_s=0.05, events_poll_s=0.05)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            async with open_stream(app, owner.headers) as stream:
                while stream.body.count(b": heartbeat\n\n") < 3:
                    with pytest.raises(TimeoutError):
                        await stream.next_event(timeout=0.1)
                assert b"data:" not in stream.body


async def test_a_stream_shows_only_its_organization(engine: Engine) -> None:
    other = await register(engine.api)
    await engine.account("twitter")
    async with (
        open_stream(engine.world.app, engine.owner.headers) as mine,
        open_stream(engine.world.app, other.headers) as theirs,
    ):
        await engine.draft("twitter", content="Ours only")
        assert (await mine.next_event()).name == "post.created"
        await theirs.nothing_more()
    # Another organization's stream or list: as if it didn't exist.
    async with open_stream(
        engine.world.app,
        other.headers,
        organization_id=str(engine.owner.personal_organization_id),
    ) as refused:
        assert refused.status == 404
        assert refused.headers["content-type"].startswith("application/problem+json")
    listed = await engine.api.get(
        EVENTS,
        params={"organization_id": str(engine.owner.personal_organization_id)},
        headers=other.headers,
    )
    assert listed.status_code == 404
    assert (await list_events(engine.api, other.headers))["items"] == []
    # Their event id doesn't open our history either.
    ours = (await list_events(engine.api, engine.owner.headers))["items"][0]["id"]
    async with open_stream(engine.world.app, {**other.headers, "Last-Event-ID": ours}) as theirs:
        await theirs.nothing_more()


async def test_members_and_member_keys_may_read_events_but_viewers_may_not(
    engine: Engine,
) -> None:
    organization = engine.owner.personal_organization_id
    viewer_key = await create_api_key(engine.api, engine.owner, organization, role="viewer")
    member_key = await create_api_key(engine.api, engine.owner, organization, role="member")
    await engine.draft("twitter", content="Visible to members")
    as_viewer = {"Authorization": f"Bearer {viewer_key['key']}"}
    refused = await engine.api.get(EVENTS, headers=as_viewer)
    assert refused.status_code == 403
    async with open_stream(engine.world.app, as_viewer) as stream:
        assert stream.status == 403
    as_member = {"Authorization": f"Bearer {member_key['key']}"}
    items = (await list_events(engine.api, as_member, type="post.created"))["items"]
    assert [item["data"]["content"] for item in items] == ["Visible to members"]
    member = await add_member(
        engine.api,
        engine.world.runtime.jobs,  # type: ignore[arg-type]
        engine.world.runtime.settings,
        inviter=engine.owner,
        organization_id=organization,
        role="member",
    )
    listed = await list_events(
        engine.api, member.headers, organization_id=str(organization), type="post.created"
    )
    assert [item["data"]["content"] for item in listed["items"]] == ["Visible to members"]


async def test_an_unauthenticated_or_malformed_stream_request_is_refused(engine: Engine) -> None:
    async with open_stream(engine.world.app, {}) as anonymous:
        assert anonymous.status == 401
    bad = {**engine.owner.headers, "Last-Event-ID": "not-an-event"}
    async with open_stream(engine.world.app, bad) as stream:
        assert stream.status == 422
        assert b"Last-Event-ID" in stream.body


async def test_a_caller_without_a_personal_organization_is_told_to_name_one_in_the_query(
    engine: Engine,
) -> None:
    """The endpoints taking `organization_id` as a query parameter point their 422 at it."""
    async with session_scope(engine.world.runtime) as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == engine.owner.personal_organization_id)
            .values(personal=False)
        )
    for path in (EVENTS, "/api/v1/subscriptions/current"):
        answer = await engine.api.get(path, headers=engine.owner.headers)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        [entry] = answer.json()["errors"]
        assert entry["loc"] == ["query", "organization_id"], (path, entry)
        assert "organization_id is required" in entry["msg"]
    async with open_stream(engine.world.app, engine.owner.headers) as stream:
        assert stream.status == 422
        assert b'["query","organization_id"]' in stream.body.replace(b" ", b"")
    # Named in the query, the same organization answers as usual (a 200).
    await list_events(
        engine.api, engine.owner.headers, organization_id=str(engine.owner.personal_organization_id)
    )


async def _draft(api: httpx.AsyncClient, headers: dict[str, str], brand_id: str) -> str:
    created = await api.post(
        "/api/v1/posts",
        json={"brand_id": brand_id, "content": "Woken", "targets": []},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    post_id: str = created.json()["id"]
    return post_id


async def _brand(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=headers)
    assert brand.status_code == 201, brand.text
    brand_id: str = brand.json()["id"]
    return brand_id


# Far longer than the receive timeout: what arrives was woken, not found by a poll.
NO_POLL = {"events_poll_s": 600.0, "events_heartbeat_s": 600.0}


async def test_an_event_wakes_the_stream_in_the_same_process(app_factory: Any) -> None:
    app = app_factory(**NO_POLL)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand_id = await _brand(api, owner.headers)
            async with open_stream(app, owner.headers) as stream:
                post_id = await _draft(api, owner.headers, brand_id)
                event = await stream.next_event()
                assert event.data is not None
                assert event.data["data"]["id"] == post_id


async def test_a_change_made_as_soon_as_the_stream_opens_is_sent(app_factory: Any) -> None:
    """The stream starts when its headers go out, not when the server first reads the table:
    a post drafted the moment the client sees the stream open reaches it (and every poll
    would have skipped it as past, had the start been fixed after that draft)."""
    app = app_factory(events_poll_s=0.05)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand_id = await _brand(api, owner.headers)
            drafted: list[str] = []

            async def draft_at_once() -> None:
                drafted.append(await _draft(api, owner.headers, brand_id))

            async with open_stream(app, owner.headers, on_open=draft_at_once) as stream:
                event = await stream.next_event()
                assert event.data is not None
                assert event.data["data"]["id"] == drafted[0]


@pytest.mark.postgres
@pytest.mark.redis
async def test_an_event_committed_by_another_process_wakes_the_stream_through_redis(
    app_factory: Any,
) -> None:
    streaming, writing = app_factory(**NO_POLL), app_factory(**NO_POLL)
    async with (
        streaming.router.lifespan_context(streaming),
        writing.router.lifespan_context(writing),
    ):
        assert streaming.state.runtime is not writing.state.runtime
        transport = httpx.ASGITransport(app=writing)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand_id = await _brand(api, owner.headers)
            async with open_stream(streaming, owner.headers) as stream:
                first = await _draft(api, owner.headers, brand_id)
                event = await stream.next_event()
                assert event.data is not None
                assert event.data["data"]["id"] == first
                second = await _draft(api, owner.headers, brand_id)
                event = await stream.next_event()
                assert event.data is not None
                assert event.data["data"]["id"] == second


@pytest.mark.redis
async def test_commits_made_before_a_wake_up_is_sent_share_it_and_later_ones_send_their_own(
    app_factory: Any,
) -> None:
    """One wake-up per organization and turn of the event loop (a burst of creates publishes
    once), and one more for a commit made once the first was sent: none is ever left out."""
    app = app_factory(**NO_POLL)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        hub = hub_of(runtime)
        listening = runtime.redis.pubsub()
        await listening.subscribe(hub.channel)
        try:
            first, other = uuid.uuid4(), uuid.uuid4()
            for organization in (first, first, other, first):
                hub.committed({organization})
            assert await _wake_ups(runtime.redis, listening, hub.channel) == sorted(
                [str(first), str(other)]
            )
            hub.committed({first})
            assert await _wake_ups(runtime.redis, listening, hub.channel) == [str(first)]
        finally:
            await listening.aclose()


async def _wake_ups(redis: Any, listening: Any, channel: str) -> list[str]:
    """The wake-ups published on `channel` until now: read up to a mark published after them
    (Redis sends a subscriber its channel's messages in the order it took them)."""
    mark = f"mark-{uuid.uuid4()}"
    await asyncio.sleep(0.05)  # the hub's publishing tasks run first
    await redis.publish(channel, mark)
    seen: list[str] = []
    async with asyncio.timeout(10):
        while True:
            message = await listening.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            data = message["data"]
            text = data.decode() if isinstance(data, bytes) else str(data)
            if text == mark:
                return sorted(seen)
            seen.append(text)


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_burst_of_creates_wakes_a_stream_in_another_process_for_every_post(
    app_factory: Any,
) -> None:
    """Drafts made together in one process, their wake-ups shared, then more: a stream in
    another process (no poll to fall back on) receives every post's event of both bursts."""
    streaming, writing = app_factory(**NO_POLL), app_factory(**NO_POLL)
    async with (
        streaming.router.lifespan_context(streaming),
        writing.router.lifespan_context(writing),
    ):
        transport = httpx.ASGITransport(app=writing)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand_id = await _brand(api, owner.headers)
            async with open_stream(streaming, owner.headers) as stream:
                for _burst in range(2):
                    drafted = await asyncio.gather(
                        *(_draft(api, owner.headers, brand_id) for _ in range(6))
                    )
                    received = []
                    for _ in drafted:
                        event = await stream.next_event()
                        assert event.data is not None
                        received.append(event.data["data"]["id"])
                    assert sorted(received) == sorted(drafted)


async def test_a_reconnect_after_its_last_event_was_purged_resumes_from_that_events_time(
    engine: Engine,
) -> None:
    for number in range(3):
        await engine.draft("twitter", content=f"Post {number}")
    listed = list(
        reversed(
            (await list_events(engine.api, engine.owner.headers, type="post.created"))["items"]
        )
    )
    async with session_scope(engine.world.runtime) as session:
        await session.execute(delete(Event).where(Event.id == listed[0]["id"]))
    resume = {**engine.owner.headers, "Last-Event-ID": listed[0]["id"]}
    async with open_stream(engine.world.app, resume) as stream:
        missed = await stream.events(2)
        assert [event.id for event in missed] == [item["id"] for item in listed[1:]]
        await stream.nothing_more()


@pytest.mark.redis
async def test_the_hub_closes_even_when_its_listeners_cancellation_is_swallowed(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    swallow_cancelled_polls(monkeypatch)
    app = app_factory(**NO_POLL)
    async with app.router.lifespan_context(app):
        hub = hub_of(app.state.runtime)
        async with hub.waiter(uuid.uuid4()):
            listener = hub._listener
            assert listener is not None
        async with asyncio.timeout(10):
            await hub.close()
        assert listener.done()
