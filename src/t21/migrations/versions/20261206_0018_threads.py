"""Threads and first comments: a target's parts after the first, and the steps of its
publication already out at the network (parts and first comment), recorded one by one.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.add_column(sa.Column("thread", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.drop_column("steps")
        batch.drop_column("thread")
