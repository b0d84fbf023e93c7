"""Analytics: how each published post performs, collected over time from its network."""
