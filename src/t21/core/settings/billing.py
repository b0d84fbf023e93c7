"""Billing: the plans' limits and Stripe."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from t21.core.settings.values import split_csv


class BillingSettings(BaseModel):
    """Plans and Stripe."""

    # --- billing -------------------------------------------------------------------------------
    # Overrides of the plans' limits: {"tier": {"limit": number}} (see t21.billing.plans).
    plan_limits: dict[str, dict[str, int]] | None = None
    # Stripe; without a key (outside production) the sandbox's fake Stripe answers, and in
    # production the billing endpoints answer 503 until it is set.
    stripe_api_key: SecretStr | None = None
    # Unset: https://api.stripe.com with a key, else the sandbox's fake.
    stripe_api_base: Annotated[str | None, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] = None
    # Every secret a webhook signature may be made with: several while one replaces another.
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # The monthly prices that Checkout sells for each paid tier.
    stripe_price_pro: str | None = None
    stripe_price_business: str | None = None

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _parse_webhook_secrets(cls, value: Any) -> Any:
        return split_csv(value)
