"""Account connections bound to the browser that started them: the digest of its cookie, and for
a callback that comes back without it, the network's code (encrypted) held for the starter's
one-time completion.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "social_connect_attempts", sa.Column("browser_digest", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "social_connect_attempts",
        sa.Column("completion_digest", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "social_connect_attempts", sa.Column("network_code_encrypted", sa.Text(), nullable=True)
    )
    op.create_index(
        op.f("ix_social_connect_attempts_completion_digest"),
        "social_connect_attempts",
        ["completion_digest"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_social_connect_attempts_completion_digest"), table_name="social_connect_attempts"
    )
    op.drop_column("social_connect_attempts", "network_code_encrypted")
    op.drop_column("social_connect_attempts", "completion_digest")
    op.drop_column("social_connect_attempts", "browser_digest")
