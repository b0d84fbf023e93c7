"""Imports every domain's jobs and loops so they are registered before the queue starts."""

from t21.notifications import tasks as notifications_tasks

__all__ = ["notifications_tasks"]
