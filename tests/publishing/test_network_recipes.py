"""The many-network recipes (`tests.support.networks`) hold for each network: accounts connect
through the API against the sandbox, the engine publishes (with the media and options the
recipe gives), the fake's record of the post reads back as the recipe says (its text, and the
id T21 stored), and the recipe's rate limit and server error are answers T21 waits on and
retries, never a failure or a second post."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from t21.core import clock
from t21.core.tls import tls_context
from tests.posts.conftest import POSTS
from tests.publishing.conftest import Engine
from tests.support.networks import RECIPES, Recipe, seeding

# Ticks a publication may take: YouTube opens its upload session, then sends the file.
TICKS = 8
# How far the clock moves between ticks: past a fault's wait (1 s, or a reset 1 s away).
STEP = timedelta(seconds=5)


async def publish(engine: Engine, recipe: Recipe, text: str) -> dict[str, Any]:
    """Connect the recipe's accounts and publish `text` now on the last one; the target once
    it has settled (moving each wait's due time to now)."""
    accounts = await recipe.connect(engine.world, min(recipe.accounts, 2))
    assert len(accounts) == min(recipe.accounts, 2), accounts
    account = accounts[-1]
    prepared = await seeding(recipe, engine.world, [account])
    post: dict[str, Any] = (
        await engine.create(
            content=text,
            media_ids=prepared.media_ids,
            targets=[{"social_account_id": account, "options": prepared.options[account]}],
        )
    ).json()
    queued = await engine.api.post(f"{POSTS}/{post['id']}/publish", headers=engine.owner.headers)
    assert queued.status_code == 202, queued.text
    return post


async def settled(engine: Engine, post_id: str, waits: list[str]) -> dict[str, Any]:
    """Tick until the target is published or stuck, the clock a few seconds later each time
    (past the faults' waits: an account held until the network's reset); each wait's code
    goes to `waits`. A retry is made due at once, and an attempt left to the reaper (a doubt)
    has its lease ended, so the reaper asks the network."""
    target: dict[str, Any] = {}
    later = clock.now()
    for _ in range(TICKS):
        later += STEP
        with clock.frozen(later):
            await engine.tick()
            [target] = (await engine.read(post_id))["targets"]
            if target["status"] in ("published", "failed", "needs_review"):
                break
            if target["status"] in ("retrying", "scheduled") and target["last_error"]:
                # A retry, or the account held until the network's rate limit resets.
                waits.append(target["last_error"]["code"])
                await engine.make_due(target["id"])
            elif target["status"] == "publishing" and target["last_error"]:
                waits.append(target["last_error"]["code"])
                await engine.change_target(
                    target["id"], lease_expires_at=clock.now() - timedelta(seconds=1)
                )
    return target


@pytest.mark.parametrize("name", sorted(RECIPES))
async def test_a_recipe_connects_publishes_and_reads_the_record(engine: Engine, name: str) -> None:
    recipe = RECIPES[name]
    # Plain words: LinkedIn's send record holds the text as escaped (`_` → `\_`).
    text = f"Recipe check for {name.replace('_', ' ')}"
    post = await publish(engine, recipe, text)
    target = await settled(engine, post["id"], [])
    assert target["status"] == "published", target
    [record] = engine.published_at_network(name)
    assert recipe.text_of(record) == text
    assert recipe.id_of(record) == target["external_id"]
    assert engine.sends(name, text) == ["accepted"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (kind, name)
        for kind in ("rate_limited", "server_error")
        for name in sorted(RECIPES)
        # A network whose doubts go to a person is given only the faults that leave none.
        if kind in RECIPES[name].faults
    ],
)
async def test_a_recipes_throttle_and_server_error_are_waited_on_then_published_once(
    engine: Engine, name: str, kind: str
) -> None:
    recipe = RECIPES[name]
    text = f"Fault check {kind.replace('_', ' ')} for {name.replace('_', ' ')}"
    async with httpx.AsyncClient(
        verify=tls_context(), base_url=engine.world.sandbox, timeout=10
    ) as http:
        fault = recipe.fault(kind, count=1, wait=1)
        answer = await http.post(f"/{name}/_control/faults", json=fault)
        assert answer.status_code == 200, answer.text
    post = await publish(engine, recipe, text)
    waits: list[str] = []
    target = await settled(engine, post["id"], waits)
    assert target["status"] == "published", (target, waits)
    assert [code for code in waits if code != "in_progress"], f"{kind} was never met: {waits}"
    [record] = engine.published_at_network(name)
    assert recipe.id_of(record) == target["external_id"]
    posted = [
        o for o in engine.sends(name, text) if o in ("accepted", "fault-injected-after-effect")
    ]
    assert posted == ["accepted"]
