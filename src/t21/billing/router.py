"""`/api/v1/plans`."""

from __future__ import annotations

from t21.billing.plans import plans
from t21.billing.schemas import PlanList, PlanOut
from t21.core.deps import AppSettings
from t21.core.routing import APIRouter

plans_router = APIRouter(prefix="/plans", tags=["billing"])


@plans_router.get("")
async def list_plans(settings: AppSettings) -> PlanList:
    """The tiers, their monthly price and their limits (public)."""
    return PlanList(items=[PlanOut.of(plan) for plan in plans(settings).values()])
