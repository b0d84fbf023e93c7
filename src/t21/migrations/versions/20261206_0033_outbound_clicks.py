"""Outbound clicks: clicks that leave the network for the post's link (Pinterest's
OUTBOUND_CLICK), kept apart from clicks on the post itself.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("metric_snapshots", sa.Column("outbound_clicks", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("metric_snapshots") as batch:
        batch.drop_column("outbound_clicks")
