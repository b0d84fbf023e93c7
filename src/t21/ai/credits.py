"""What AI costs an organization: the models its plan allows, and the credits a call takes.

Free organizations use the small, fast models (`T21_AI_SMALL_MODELS`); Pro and Business also
any model of `T21_AI_MODELS` (empty: any OpenRouter offers). A credit is a started thousand
tokens, prompt and answer together, and a call costs at least one.
"""

from __future__ import annotations

import math

from t21.ai.client import Usage
from t21.ai.prompts import Prompt
from t21.billing import plans
from t21.core.errors import PlanRequired, ValidationFailed
from t21.core.settings import Settings

TOKENS_PER_CREDIT = 1000
CHARS_PER_TOKEN = 4


def credits_for(used: Usage) -> int:
    """What a call costs: one credit per started thousand tokens, at least one."""
    return max(1, math.ceil(used.total_tokens / TOKENS_PER_CREDIT))


def estimated_credits(prompt: Prompt) -> int:
    """The credits a call needs at least: its prompt's (the answer's length isn't known)."""
    characters = sum(len(str(message.get("content") or "")) for message in prompt.messages)
    return max(1, math.ceil(characters / CHARS_PER_TOKEN / TOKENS_PER_CREDIT))


def choose_model(settings: Settings, plan: plans.Plan, requested: str | None) -> str:
    """The model a call uses: the one asked for if the plan allows it, else the default."""
    small = settings.ai_small_models
    if requested is None:
        default = settings.ai_default_model
        return small[0] if plan.ai_models == "small" and default not in small else default
    if requested in small:
        return requested
    if plan.ai_models == "small":
        raise PlanRequired(
            f"The {plan.name} plan includes the small AI models only ({', '.join(small)}); "
            f"upgrade to use {requested}.",
            model=requested,
            allowed_models=list(small),
            tier=plan.tier.value,
        )
    allowed = settings.ai_models
    if allowed and requested not in allowed and requested != settings.ai_default_model:
        offered = [*small, *allowed]
        message = f"{requested} isn't offered here; one of {', '.join(offered)}."
        raise ValidationFailed(message, errors=[{"loc": ["body", "model"], "msg": message}])
    return requested
