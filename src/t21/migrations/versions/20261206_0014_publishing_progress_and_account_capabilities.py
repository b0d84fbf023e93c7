"""What a publication left at its network between attempts (Instagram's media containers), and
what an account may do at its network (TikTok's allowed privacy levels).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post_targets") as batch:
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))
    with op.batch_alter_table("social_accounts") as batch:
        batch.add_column(sa.Column("capabilities", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("social_accounts") as batch:
        batch.drop_column("capabilities")
    with op.batch_alter_table("post_targets") as batch:
        batch.drop_column("progress")
