"""T21's app on each server of a network whose accounts live on many servers (Mastodon),
registered once per instance with its secret encrypted, and the instance a connection attempt
names.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "social_instance_apps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("instance", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("pkce", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_instance_apps")),
        sa.UniqueConstraint(
            "platform", "instance", name=op.f("uq_social_instance_apps_platform_instance")
        ),
    )
    with op.batch_alter_table("social_connect_attempts") as batch:
        batch.add_column(sa.Column("instance", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("social_connect_attempts") as batch:
        batch.drop_column("instance")
    op.drop_table("social_instance_apps")
