"""The many-network recipes (`tests.support.networks`) hold for each network: accounts connect
through the API against the sandbox, the engine publishes, and the fake's record of the post
reads back as the recipe says (its text, and the id T21 stored)."""

from __future__ import annotations

import pytest

from tests.publishing.conftest import Engine
from tests.support.networks import RECIPES


@pytest.mark.parametrize("name", sorted(RECIPES))
async def test_a_recipe_connects_publishes_and_reads_the_record(engine: Engine, name: str) -> None:
    recipe = RECIPES[name]
    accounts = await recipe.connect(engine.world, min(recipe.accounts, 2))
    assert len(accounts) == min(recipe.accounts, 2), accounts
    engine.accounts[name] = accounts[-1]
    # Plain words: LinkedIn's send record holds the text as escaped (`_` → `\_`).
    text = f"Recipe check for {name.replace('_', ' ')}"
    post = await engine.publish_now(name, content=text)
    await engine.tick()
    [target] = (await engine.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    [record] = engine.published_at_network(name)
    assert recipe.text_of(record) == text
    assert recipe.id_of(record) == target["external_id"]
    assert engine.sends(name, text) == ["accepted"]
