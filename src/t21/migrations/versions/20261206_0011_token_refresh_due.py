"""Tokens refreshed ahead of expiry by a share of their life, and owners warned once before a
token that can't be refreshed dies; metrics a connection isn't permitted to read, with why.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("social_accounts") as batch:
        batch.add_column(sa.Column("refresh_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("expiry_warned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("metrics_unavailable", sa.Text(), nullable=True))
        batch.create_index("ix_social_accounts_status_refresh_due_at", ["status", "refresh_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("social_accounts") as batch:
        batch.drop_index("ix_social_accounts_status_refresh_due_at")
        batch.drop_column("metrics_unavailable")
        batch.drop_column("expiry_warned_at")
        batch.drop_column("refresh_due_at")
