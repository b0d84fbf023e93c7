"""The email outbox: every email is a row before it is a message, so none is lost."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from t21.core.models import RecordModel


class EmailStatus(StrEnum):
    PENDING = "pending"  # waiting for (another) delivery attempt at `not_before`
    SENDING = "sending"  # claimed by a worker until `lease_expires_at`
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of attempts


class OutboundEmail(RecordModel):
    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_status_not_before", "status", "not_before"),)

    # The sender is fixed when the email is queued, so every retry sends the same message.
    from_address: Mapped[str] = mapped_column(String(998))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    template: Mapped[str] = mapped_column(String(100))
    # Bodies are kept only until the email is sent: they may carry single-use links.
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[EmailStatus] = mapped_column(
        Enum(
            EmailStatus,
            name="email_status",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [member.value for member in e],
        ),
        default=EmailStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    claim_token: Mapped[uuid.UUID | None]
    backend: Mapped[str | None] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
