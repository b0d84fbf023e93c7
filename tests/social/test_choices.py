"""`GET /api/v1/social-accounts/{id}/boards` and `…/locations`: an account's choices for its
posts' `options`, for networks that have them. The networks that list choices test the listing
itself with their fakes; here, what every account answers."""

from __future__ import annotations

import uuid

import pytest

from tests.core.test_http import assert_problem
from tests.social.conftest import World
from tests.support.accounts import register


@pytest.mark.parametrize("kind", ["boards", "locations"])
async def test_a_network_without_choices_answers_404(world: World, kind: str) -> None:
    [account_id] = await world.connected_ids("twitter")
    answer = await world.api.get(
        f"/api/v1/social-accounts/{account_id}/{kind}", headers=world.owner.headers
    )
    assert_problem(answer, 404, "not_found")
    assert kind in answer.json()["detail"]


async def test_another_organizations_account_is_not_found(world: World) -> None:
    [account_id] = await world.connected_ids("twitter")
    stranger = await register(world.api)
    answer = await world.api.get(
        f"/api/v1/social-accounts/{account_id}/boards", headers=stranger.headers
    )
    assert_problem(answer, 404, "not_found")
    missing = await world.api.get(
        f"/api/v1/social-accounts/{uuid.uuid4()}/boards", headers=world.owner.headers
    )
    assert_problem(missing, 404, "not_found")


async def test_choices_need_a_signed_in_caller(world: World) -> None:
    [account_id] = await world.connected_ids("twitter")
    answer = await world.api.get(f"/api/v1/social-accounts/{account_id}/boards")
    assert_problem(answer, 401, "not_authenticated")
