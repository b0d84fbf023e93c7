"""Reading values from the `/metrics` page: the registry is shared by every test in a process,
so tests compare a sample's value before and after what they do, never just its presence."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on `/metrics`, by name and labels."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """A sample's value; 0 when it isn't there yet (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
