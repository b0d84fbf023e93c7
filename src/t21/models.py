"""Every table's model, imported so `Base.metadata` is complete (migrations, tests)."""

from t21.ai.models import AiCall
from t21.analytics.models import MetricSnapshot
from t21.audit.models import AuditEntry
from t21.billing.models import BillingAccount, StripeEvent, UsageCounter
from t21.brands.models import Brand
from t21.core.idempotency import IdempotencyRecord
from t21.core.models import Base
from t21.events.models import Event
from t21.identity.models import (
    EmailToken,
    LoginCode,
    OAuthIdentity,
    OAuthLogin,
    Passkey,
    PasskeyChallenge,
    RecoveryCode,
    RefreshToken,
    TotpFactor,
    TwoFactorChallenge,
    User,
)
from t21.media.models import MediaAsset
from t21.notifications.models import OutboundEmail
from t21.organizations.models import ApiKey, Invitation, Membership, Organization
from t21.posts.models import Post, PostMedia, PostTarget, TargetReview, Template
from t21.review.models import ApprovalDecision, ReviewLink
from t21.social.models import ConnectAttempt, SocialAccount
from t21.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AiCall",
    "ApiKey",
    "ApprovalDecision",
    "AuditEntry",
    "Base",
    "BillingAccount",
    "Brand",
    "ConnectAttempt",
    "EmailToken",
    "Event",
    "IdempotencyRecord",
    "Invitation",
    "LoginCode",
    "MediaAsset",
    "Membership",
    "MetricSnapshot",
    "OAuthIdentity",
    "OAuthLogin",
    "Organization",
    "OutboundEmail",
    "Passkey",
    "PasskeyChallenge",
    "Post",
    "PostMedia",
    "PostTarget",
    "RecoveryCode",
    "RefreshToken",
    "ReviewLink",
    "SocialAccount",
    "StripeEvent",
    "TargetReview",
    "Template",
    "TotpFactor",
    "TwoFactorChallenge",
    "UsageCounter",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
