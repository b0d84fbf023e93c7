"""What the review endpoint takes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field


class ResolvedPublished(BaseModel):
    """It is on the network: T21 records it published (and looks up what isn't given)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["published"]
    permalink: AnyHttpUrl | None = Field(default=None, description="The post's link.")
    external_id: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None, description="The network's id of the post."
    )


class ResolvedNotPublished(BaseModel):
    """It is not on the network: try again now, or give up on this account."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["not_published"]
    action: Literal["retry", "cancel"]


ResolveIn = Annotated[ResolvedPublished | ResolvedNotPublished, Field(discriminator="outcome")]
