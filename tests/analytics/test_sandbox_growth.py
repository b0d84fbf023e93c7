"""In development the sandbox's networks grow plausible numbers as posts age, and collecting
now (`t21 analytics collect`, `POST /_dev/analytics/collect`) brings them in at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from t21.analytics.collection import collect_now
from t21.cli import app as cli
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.platform import grown_count
from t21.sandbox.server import ThreadedServer
from tests.analytics.conftest import Studio
from tests.support import loopback


@pytest.fixture
def sandbox() -> Iterator[str]:
    """The sandbox as `t21 serve` runs it: numbers grow."""
    with ThreadedServer(create_sandbox_app(grow_metrics=True)) as server:
        yield server.url


def test_grown_numbers_are_deterministic_start_at_zero_and_only_go_up() -> None:
    born = 1_800_000_000.0
    assert grown_count("post-1", "impression_count", born, born) == 0
    later = [grown_count("post-1", "impression_count", born, born + s) for s in (60, 600, 7200)]
    assert later == sorted(later)
    assert later[-1] > later[0] > 0
    assert grown_count("post-1", "impression_count", born, born + 600) == later[1]
    # Plausible: far fewer likes than impressions, and posts differ.
    day = born + 86_400
    impressions = grown_count("post-1", "impression_count", born, day)
    assert 300 * 0.75 <= impressions <= 5000 * 1.26
    assert 0 < grown_count("post-1", "like_count", born, day) < impressions / 5
    assert grown_count("post-2", "impression_count", born, day) != impressions


async def test_numbers_grow_as_the_post_ages_and_collect_now_brings_them_in(
    studio: Studio,
) -> None:
    post = await studio.publish("twitter")
    studio.world.control("twitter", "POST", "/growth", {"advance_s": 600})
    first = await collect_now(studio.world.runtime)
    assert (first.targets, first.snapshots) == (1, 1)
    studio.world.control("twitter", "POST", "/growth", {"advance_s": 3 * 3600})
    second = await collect_now(studio.world.runtime, post_id=uuid.UUID(post.post_id))
    assert (second.targets, second.snapshots) == (1, 1)
    early, late = await studio.snapshots(post)
    assert 0 < early["impressions"] < late["impressions"]
    assert early["likes"] <= late["likes"]
    assert late["likes"] > 0
    # The schedule goes on from the publishing time.
    assert (await studio.target(post)).next_collect_at is not None


@pytest.mark.parametrize(
    ("platform", "audience"), [("linkedin", "impressions"), ("facebook", "reach")]
)
async def test_linkedin_and_facebook_posts_grow_numbers_too(
    studio: Studio, platform: str, audience: str
) -> None:
    post = await studio.publish(platform)
    studio.world.control(platform, "POST", "/growth", {"advance_s": 600})
    await collect_now(studio.world.runtime)
    studio.world.control(platform, "POST", "/growth", {"advance_s": 3 * 3600})
    await collect_now(studio.world.runtime, post_id=uuid.UUID(post.post_id))
    early, late = await studio.snapshots(post)
    assert 0 < early[audience] < late[audience]
    assert early["likes"] <= late["likes"]
    assert late["likes"] > 0


async def test_numbers_set_by_the_control_are_not_lowered_by_growth(studio: Studio) -> None:
    post = await studio.publish("twitter")
    studio.set_x_metrics(post, like_count=9000)
    await collect_now(studio.world.runtime)
    [snapshot] = await studio.snapshots(post)
    assert snapshot["likes"] == 9000


async def test_the_development_endpoint_collects_now(studio: Studio) -> None:
    post = await studio.publish("twitter")
    studio.world.control("twitter", "POST", "/growth", {"advance_s": 1800})
    response = await studio.api.post("/_dev/analytics/collect")
    assert response.status_code == 200, response.text
    assert response.json() == {"targets": 1, "snapshots": 1}
    [snapshot] = await studio.snapshots(post)
    assert snapshot["likes"] > 0
    other = await studio.api.post("/_dev/analytics/collect", params={"post_id": "not-an-id"})
    assert other.status_code == 422


def test_growth_control_refuses_bad_input(sandbox: str) -> None:
    bad = loopback.post(f"{sandbox}/tiktok/_control/growth", json={"advance_s": -5})
    assert bad.status_code == 400
    off = loopback.post(f"{sandbox}/tiktok/_control/growth", json={"grow": False})
    assert off.json() == {"grow": False, "advanced_s": 0.0}


def test_the_collect_command_reports_what_it_collected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("T21_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("T21_SECRET_KEY", "x" * 40)
    runner = CliRunner()
    done = runner.invoke(cli, ["analytics", "collect"])
    assert done.exit_code == 0, done.output
    assert "Collected 0 targets: 0 new snapshots." in done.output
    refused = runner.invoke(cli, ["analytics", "collect", "--post", "nope"])
    assert refused.exit_code == 2
    assert "--post must be a post id" in refused.output
