"""Threads (Meta's Threads API on graph.threads.net): see `provider`."""

from t21.platforms.threads.provider import ThreadsProvider
from t21.platforms.threads.rules import ThreadsOptions

__all__ = ["ThreadsOptions", "ThreadsProvider"]
