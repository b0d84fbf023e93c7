"""Publishing state (attempt start, lease and queue indexes, rate limits of accounts, one problem
email per post) and analytics (metric snapshots, the collection schedule).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_snapshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=True),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("clicks", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_metric_snapshots_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_metric_snapshots_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_metric_snapshots_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["post_targets.id"],
            name=op.f("fk_metric_snapshots_target_id_post_targets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_snapshots")),
    )
    with op.batch_alter_table("metric_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metric_snapshots_brand_id_collected_at", ["brand_id", "collected_at"], unique=False
        )
        batch_op.create_index(
            "ix_metric_snapshots_target_id_collected_at",
            ["target_id", "collected_at"],
            unique=False,
        )

    with op.batch_alter_table("post_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("next_collect_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_post_targets_next_collect_at"), ["next_collect_at"], unique=False
        )
        batch_op.create_index(
            "ix_post_targets_social_account_id_published_at",
            ["social_account_id", "published_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_post_targets_status_lease_expires_at", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_post_targets_status_queued_at", ["status", "queued_at"], unique=False
        )

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("problem_notified_at", sa.DateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rate_limited_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.drop_column("rate_limited_until")

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("problem_notified_at")

    with op.batch_alter_table("post_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_post_targets_status_queued_at")
        batch_op.drop_index("ix_post_targets_status_lease_expires_at")
        batch_op.drop_index("ix_post_targets_social_account_id_published_at")
        batch_op.drop_index(batch_op.f("ix_post_targets_next_collect_at"))
        batch_op.drop_column("next_collect_at")
        batch_op.drop_column("attempt_started_at")

    with op.batch_alter_table("metric_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_snapshots_target_id_collected_at")
        batch_op.drop_index("ix_metric_snapshots_brand_id_collected_at")

    op.drop_table("metric_snapshots")
