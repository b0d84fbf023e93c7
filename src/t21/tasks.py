"""Imports every domain's jobs and loops so they are registered before the queue starts."""

from t21.analytics import tasks as analytics_tasks
from t21.audit import tasks as audit_tasks
from t21.billing import tasks as billing_tasks
from t21.core import housekeeping
from t21.events import tasks as events_tasks
from t21.identity import tasks as identity_tasks
from t21.media import tasks as media_tasks
from t21.notifications import tasks as notifications_tasks
from t21.publishing import tasks as publishing_tasks
from t21.social import tasks as social_tasks
from t21.webhooks import tasks as webhooks_tasks

__all__ = [
    "analytics_tasks",
    "audit_tasks",
    "billing_tasks",
    "events_tasks",
    "housekeeping",
    "identity_tasks",
    "media_tasks",
    "notifications_tasks",
    "publishing_tasks",
    "social_tasks",
    "webhooks_tasks",
]
