"""The fake networks' send records: every publish request a fake received, per account, with
its outcome, so a second send of the same post can be seen whether the fake refused it, accepted
it, or its answer was lost. Driven through T21's own adapters against the whole sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from t21.core.outside import Ambiguous, OutsideFailure, Permanent
from t21.platforms.base import Credentials, Provider, Published, PublishRequest
from t21.platforms.registry import provider_class
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.platform import text_digest
from t21.sandbox.server import ThreadedServer
from tests.platforms.harness import FakeNetwork, connect, credentials
from tests.support import loopback

# The networks that refuse a post identical to one the account already has.
REFUSING = ["twitter", "linkedin", "facebook"]
PUBLISH_PATHS = {
    "twitter": r"^/2/tweets$",
    "linkedin": r"^/rest/posts$",
    "facebook": r"^/v[0-9.]+/[0-9]+/feed$",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with ThreadedServer(create_sandbox_app()) as server:
        yield server.url


@pytest.fixture(params=REFUSING)
def network(request: pytest.FixtureRequest, sandbox: str) -> tuple[str, FakeNetwork]:
    fake = FakeNetwork(url=f"{sandbox}/{request.param}")
    fake.reset()
    return request.param, fake


async def connected(name: str, fake: FakeNetwork) -> tuple[Provider, Credentials]:
    provider = provider_class(name)(fake.config(name, timeout_s=1.0))
    connections = await connect(provider)
    return provider, credentials(connections[0])


def outcomes(fake: FakeNetwork, text: str) -> list[str]:
    return [s["outcome"] for s in fake.sends() if s["text_sha256"] == text_digest(text)]


async def test_a_refused_duplicate_is_recorded_as_a_second_send(
    network: tuple[str, FakeNetwork],
) -> None:
    name, fake = network
    provider, account = await connected(name, fake)
    await provider.publish(account, PublishRequest(text="Said once"))
    with pytest.raises(Permanent):
        await provider.publish(account, PublishRequest(text="Said once"))
    assert outcomes(fake, "Said once") == ["accepted", "refused-duplicate"]
    assert len(fake.published()) == 1
    [first, second] = fake.sends()
    assert first["account"] == second["account"]
    assert first["body_sha256"] == second["body_sha256"]
    assert "Said once" not in str(fake.sends())  # hashes only


async def test_with_duplicate_refusal_off_a_second_send_is_accepted_and_seen(
    network: tuple[str, FakeNetwork],
) -> None:
    name, fake = network
    provider, account = await connected(name, fake)
    fake.refuse_duplicates(False)
    first = await provider.publish(account, PublishRequest(text="Said twice"))
    second = await provider.publish(account, PublishRequest(text="Said twice"))
    assert isinstance(first, Published)
    assert isinstance(second, Published)
    assert first.external_id != second.external_id
    assert outcomes(fake, "Said twice") == ["accepted", "accepted"]
    fake.reset()
    assert fake.control("GET", "/duplicates") == {"refuse": True}


async def test_a_lost_answer_is_a_send_that_may_have_posted_and_an_injected_error_is_none(
    network: tuple[str, FakeNetwork],
) -> None:
    name, fake = network
    provider, account = await connected(name, fake)
    path = PUBLISH_PATHS[name]
    fake.inject(status=503, path=path, method="POST", body={"error": "down"})
    with pytest.raises(OutsideFailure):
        await provider.publish(account, PublishRequest(text="Sent into the void"))
    assert outcomes(fake, "Sent into the void") == []  # the network never acted on it
    fake.inject(status=200, path=path, method="POST", lose_response=True, delay_s=1.5)
    with pytest.raises(Ambiguous):
        await provider.publish(account, PublishRequest(text="Sent into the void"))
    assert outcomes(fake, "Sent into the void") == ["fault-injected-after-effect"]
    assert len(fake.published()) == 1


async def test_sends_are_listed_per_account(network: tuple[str, FakeNetwork]) -> None:
    name, fake = network
    provider, account = await connected(name, fake)
    await provider.publish(account, PublishRequest(text="Mine"))
    mine = fake.control("GET", f"/sends?account={fake.sends()[0]['account']}")["sends"]
    assert [s["outcome"] for s in mine] == ["accepted"]
    assert fake.control("GET", "/sends?account=someone-else")["sends"] == []


def test_the_sandbox_setting_turns_duplicate_refusal_off_until_a_run_turns_it_on() -> None:
    with ThreadedServer(create_sandbox_app(refuse_duplicates=False)) as server:
        for name in ["twitter", "linkedin", "facebook", "instagram", "tiktok"]:
            url = f"{server.url}/{name}/_control"
            assert loopback.get(f"{url}/duplicates").json() == {"refuse": False}
            assert loopback.post(f"{url}/duplicates", json={"refuse": True}).json() == {
                "refuse": True
            }
            assert loopback.post(f"{url}/duplicates", json={"refuse": "yes"}).status_code == 400
            loopback.post(f"{url}/reset")
            assert loopback.get(f"{url}/duplicates").json() == {"refuse": False}
