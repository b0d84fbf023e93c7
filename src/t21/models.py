"""Every table's model, imported so `Base.metadata` is complete (migrations, tests)."""

from t21.core.models import Base
from t21.notifications.models import OutboundEmail

__all__ = ["Base", "OutboundEmail"]
