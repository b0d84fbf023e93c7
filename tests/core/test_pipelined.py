"""Commands and a script pipelined on a Redis connection of their own (`core.pipelined`):
concurrent calls each get their own answer, and a flushed script cache, a killed connection or a
Redis that stops answering fail only the calls they reach, promptly; the next call is served.

The Redis is the test's own `redis-server` (flushed, its clients killed, paused with SIGSTOP)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from t21.core.pipelined import PipelinedRedis, PipelinedScript
from tests.worker.test_healing import OwnRedis, own_redis  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis

# Answers its argument, or an error for an odd one.
ECHO_EVEN = """
if tonumber(ARGV[1]) % 2 == 1 then
  return redis.error_reply('odd ' .. ARGV[1])
end
return KEYS[1] .. ':' .. ARGV[1]
"""


@pytest.fixture
async def client(own_redis: OwnRedis) -> AsyncIterator[Redis]:  # noqa: F811
    redis = await own_redis.client()
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
async def lane(client: Redis) -> AsyncIterator[PipelinedRedis]:
    pipelined = PipelinedRedis(client, timeout_s=5)
    try:
        yield pipelined
    finally:
        await pipelined.close()


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def answered_again(script: PipelinedScript, key: str) -> object:
    """The answer of a call made again until one is answered: after a lost connection, at most
    one call meets it."""
    failures: list[Exception] = []
    while True:
        try:
            return await script([key], [4])
        except RedisConnectionError as error:
            failures.append(error)
            assert len(failures) < 2, failures


async def test_concurrent_calls_share_one_connection_and_each_gets_its_own_answer(
    client: Redis, lane: PipelinedRedis
) -> None:
    script = PipelinedScript(lane, ECHO_EVEN)
    answers = await asyncio.gather(
        *(script([f"k{n}"], [n]) for n in range(400)), return_exceptions=True
    )
    for n, answer in enumerate(answers):
        if n % 2:
            # The script's error is that call's alone.
            assert isinstance(answer, ResponseError), answer
            assert f"odd {n}" in str(answer)
        else:
            assert answer == f"k{n}:{n}".encode()
    clients = await client.client_list()
    assert sum(1 for one in clients if one["cmd"] == "evalsha") == 1


async def test_commands_interleaved_with_a_script_are_answered_in_their_order(
    client: Redis, lane: PipelinedRedis
) -> None:
    script = PipelinedScript(lane, ECHO_EVEN)
    calls = []
    for n in range(100):
        calls.append(lane.execute("INCR", "counter"))
        calls.append(script(["s"], [2 * n]))
        calls.append(lane.execute("PUBLISH", "nobody-listens", f"m{n}"))
    answers = await asyncio.gather(*calls)
    assert answers[0::3] == list(range(1, 101))
    assert answers[1::3] == [f"s:{2 * n}".encode() for n in range(100)]
    assert answers[2::3] == [0] * 100
    assert await client.get("counter") == b"100"


async def test_a_flushed_script_cache_is_filled_again_by_the_call_that_meets_it(
    client: Redis, lane: PipelinedRedis
) -> None:
    script = PipelinedScript(lane, ECHO_EVEN)
    assert await script(["a"], [2]) == b"a:2"
    await client.script_flush()
    assert await script(["b"], [4]) == b"b:4"  # loaded again, then called again
    before = await evalsha_calls(client)
    assert await script(["c"], [6]) == b"c:6"
    assert await evalsha_calls(client) == before + 1


async def test_a_lost_connection_fails_the_calls_in_flight_at_once_and_the_next_connects_again(
    own_redis: OwnRedis,  # noqa: F811
    client: Redis,
    lane: PipelinedRedis,
) -> None:
    script = PipelinedScript(lane, ECHO_EVEN)
    assert await script(["a"], [2]) == b"a:2"
    # Killed while idle: at most the call that meets the closed socket fails.
    await client.client_kill_filter(_type="normal", skipme=True)
    assert await answered_again(script, "b") == b"b:4"
    # Lost with calls in flight: they fail when it goes, not at the timeout.
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    in_flight = [asyncio.ensure_future(script(["c"], [n])) for n in range(0, 20, 2)]
    await asyncio.sleep(0.1)
    own_redis.process.kill()
    own_redis.process.wait(timeout=10)
    started = time.monotonic()
    lost = await asyncio.gather(*in_flight, return_exceptions=True)
    assert time.monotonic() - started < 2
    assert all(isinstance(answer, RedisConnectionError) for answer in lost), lost
    own_redis.process = None
    own_redis.start()
    assert await answered_again(script, "d") == b"d:4"


async def test_a_redis_that_stops_answering_fails_the_calls_in_flight_after_the_timeout(
    own_redis: OwnRedis,  # noqa: F811
    client: Redis,
) -> None:
    lane = PipelinedRedis(client, timeout_s=0.3)
    script = PipelinedScript(lane, ECHO_EVEN)
    assert own_redis.process is not None
    try:
        assert await script(["a"], [2]) == b"a:2"
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            stalled = await asyncio.gather(
                *(script(["b"], [n]) for n in range(0, 20, 2)), return_exceptions=True
            )
            waited = time.monotonic() - started
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        assert all(isinstance(answer, RedisTimeoutError) for answer in stalled), stalled
        assert 0.25 < waited < 2
        assert await script(["c"], [6]) == b"c:6"
    finally:
        await lane.close()


async def test_a_closed_connection_refuses_calls(client: Redis) -> None:
    lane = PipelinedRedis(client, timeout_s=5)
    assert await lane.execute("PING") in (b"PONG", True)
    await lane.close()
    with pytest.raises(RedisConnectionError):
        await lane.execute("PING")
