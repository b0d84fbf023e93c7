"""Events out: the event log; who settled a target in review; usage warnings sent per month.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_organization_id_created_at_id",
            ["organization_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_events_created_at", ["created_at"], unique=False)

    op.create_table(
        "target_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_target_reviews_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_target_reviews_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["post_targets.id"],
            name=op.f("fk_target_reviews_target_id_post_targets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_target_reviews_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_reviews")),
    )
    with op.batch_alter_table("target_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_target_reviews_target_id"), ["target_id"], unique=False
        )

    # Plain ADD COLUMN: no table copy on SQLite, and the offline SQL needs no live database.
    op.add_column(
        "usage_counters",
        sa.Column("published_posts_warned", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "usage_counters",
        sa.Column("ai_credits_warned", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_counters", schema=None) as batch_op:
        batch_op.drop_column("ai_credits_warned")
        batch_op.drop_column("published_posts_warned")

    with op.batch_alter_table("target_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_target_reviews_target_id"))

    op.drop_table("target_reviews")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created_at")
        batch_op.drop_index("ix_events_organization_id_created_at_id")

    op.drop_table("events")
