"""AI: OpenRouter and the models offered."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from t21.core.settings.values import split_csv


class AiSettings(BaseModel):
    """OpenRouter and its models."""

    # --- AI ------------------------------------------------------------------------------------
    # OpenRouter; without a key (outside production) the sandbox's fake answers.
    openrouter_api_key: SecretStr | None = None
    openrouter_api_base: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] = (
        "https://openrouter.ai/api/v1"
    )
    openrouter_timeout_s: float = Field(default=60.0, gt=0)
    # The model used when a request names none (the first small model for Free organizations
    # when this isn't one of them).
    ai_default_model: str = "openai/gpt-4o-mini"
    # The small, fast models every tier may use (Free: only these).
    ai_small_models: Annotated[list[str], NoDecode] = Field(
        min_length=1,
        default_factory=lambda: [
            "openai/gpt-4o-mini",
            "google/gemini-2.0-flash-001",
            "meta-llama/llama-3.1-8b-instruct",
        ],
    )
    # What paid tiers may pick besides the small models; empty: any model OpenRouter offers.
    ai_models: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("ai_small_models", "ai_models", mode="before")
    @classmethod
    def _parse_model_lists(cls, value: Any) -> Any:
        return split_csv(value)
