"""An organization with a live subscription can't be deleted: Stripe would go on charging."""

from __future__ import annotations

import httpx
import pytest

from t21.billing.models import BillingAccount
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from tests.core.test_http import assert_problem
from tests.support.accounts import create_organization, register


@pytest.mark.parametrize(
    ("status", "deletable"),
    [("active", False), ("past_due", False), ("canceled", True), ("none", True)],
)
async def test_deleting_an_organization_waits_for_its_subscription_to_end(
    client: httpx.AsyncClient, runtime: Runtime, status: str, deletable: bool
) -> None:
    owner = await register(client)
    organization = await create_organization(client, owner, "Team")
    async with session_scope(runtime) as session:
        session.add(
            BillingAccount(
                organization_id=organization,
                stripe_customer_id=f"cus_{organization.hex[:12]}",
                stripe_subscription_id="sub_test",
                status=status,
            )
        )
    response = await client.delete(f"/api/v1/organizations/{organization}", headers=owner.headers)
    if deletable:
        assert response.status_code == 204, response.text
        return
    body = assert_problem(response, 409, "conflict")
    assert "subscriptions/cancel" in body["detail"]
    still = await client.get(f"/api/v1/organizations/{organization}", headers=owner.headers)
    assert still.status_code == 200
