"""A 429 from the sign-in throttle reports the throttle's own limit, not the per-IP one."""

from __future__ import annotations

import httpx

from tests.support.accounts import register
from tests.support.windows import fresh_window

LOGIN = "/api/v1/auth/login"


async def test_a_throttled_sign_in_reports_the_failure_limit_that_refused_it(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    await fresh_window(900, needed_s=10)
    wrong = {"email": account.email, "password": "certainly not the password"}
    answers = [await client.post(LOGIN, json=wrong) for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    refused = answers[-1]
    assert refused.headers.get_list("ratelimit-limit") == ["5"]  # failures per account
    assert refused.headers.get_list("ratelimit-remaining") == ["0"]
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
