"""What the billing endpoints give."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from t21.billing.plans import Plan


class PlanOut(BaseModel):
    tier: str
    name: str
    price: int = Field(description="Per month, in minor units (pence).")
    currency: str
    limits: dict[str, int]
    ai_models: Literal["small", "all"]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(
            tier=plan.tier.value,
            name=plan.name,
            price=plan.price_minor,
            currency=plan.currency,
            limits={limit.value: value for limit, value in plan.limits.items()},
            ai_models=plan.ai_models,
        )


class PlanList(BaseModel):
    items: list[PlanOut]
