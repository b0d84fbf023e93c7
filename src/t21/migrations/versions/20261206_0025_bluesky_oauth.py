"""AT Protocol OAuth: the DPoP key an account's tokens are bound to (encrypted like them), and
what a pushed sign-in leaves for its callback (encrypted) on the connection attempt.

Revision ID: 0025
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("social_accounts", sa.Column("dpop_key_encrypted", sa.Text(), nullable=True))
    op.add_column(
        "social_connect_attempts", sa.Column("handoff_encrypted", sa.Text(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("social_connect_attempts", schema=None) as batch_op:
        batch_op.drop_column("handoff_encrypted")
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.drop_column("dpop_key_encrypted")
