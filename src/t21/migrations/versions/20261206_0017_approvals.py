"""Approvals: a brand may require them, posts and targets wait in `pending_approval`, each
decision is kept, and review links let someone without an account decide.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POST_STATUSES = [
    "draft",
    "scheduled",
    "publishing",
    "published",
    "partially_published",
    "failed",
    "cancelled",
]
TARGET_STATUSES = [
    "draft",
    "scheduled",
    "queued",
    "publishing",
    "published",
    "retrying",
    "failed",
    "cancelled",
    "needs_review",
]


def _status(values: list[str], name: str, length: int) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _copy_from(table: str) -> sa.Table | None:
    """The tables as revision 0016 left them, for SQLite's batch copy when there is no
    database to reflect them from (`--sql`); `None` (reflect) otherwise."""
    if not context.is_offline_mode() or op.get_bind().dialect.name != "sqlite":
        return None
    metadata = sa.MetaData()
    uuid_ = sa.Uuid
    if table == "posts":
        return sa.Table(
            "posts",
            metadata,
            sa.Column("id", uuid_(), primary_key=True),
            sa.Column(
                "organization_id",
                uuid_(),
                sa.ForeignKey(
                    "organizations.id",
                    ondelete="CASCADE",
                    name="fk_posts_organization_id_organizations",
                ),
                nullable=False,
            ),
            sa.Column(
                "brand_id",
                uuid_(),
                sa.ForeignKey("brands.id", ondelete="CASCADE", name="fk_posts_brand_id_brands"),
                nullable=False,
            ),
            sa.Column(
                "author_id",
                uuid_(),
                sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_posts_author_id_users"),
                nullable=True,
            ),
            sa.Column("content", sa.Text(), nullable=False),
            sa.Column("status", sa.String(27), nullable=False),
            sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("sort_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ai", sa.JSON(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("problem_notified_at", sa.DateTime(timezone=True), nullable=True),
            sa.Index("ix_posts_brand_id_sort", "brand_id", "sort_at", "created_at", "id"),
            sa.Index(
                "ix_posts_brand_id_status_sort", "brand_id", "status", "sort_at", "created_at", "id"
            ),
            sa.Index(
                "ix_posts_organization_id_sort", "organization_id", "sort_at", "created_at", "id"
            ),
            sa.Index(
                "ix_posts_organization_id_status_sort",
                "organization_id",
                "status",
                "sort_at",
                "created_at",
                "id",
            ),
        )
    return sa.Table(
        "post_targets",
        metadata,
        sa.Column("id", uuid_(), primary_key=True),
        sa.Column(
            "organization_id",
            uuid_(),
            sa.ForeignKey(
                "organizations.id",
                ondelete="CASCADE",
                name="fk_post_targets_organization_id_organizations",
            ),
            nullable=False,
        ),
        sa.Column(
            "post_id",
            uuid_(),
            sa.ForeignKey("posts.id", ondelete="CASCADE", name="fk_post_targets_post_id_posts"),
            nullable=False,
        ),
        sa.Column(
            "social_account_id",
            uuid_(),
            sa.ForeignKey(
                "social_accounts.id",
                ondelete="SET NULL",
                name="fk_post_targets_social_account_id_social_accounts",
            ),
            nullable=True,
        ),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("permalink", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_collect_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.UniqueConstraint(
            "post_id", "social_account_id", name="uq_post_targets_post_id_social_account_id"
        ),
        sa.Index("ix_post_targets_next_collect_at", "next_collect_at"),
        sa.Index("ix_post_targets_post_id_platform", "post_id", "platform"),
        sa.Index("ix_post_targets_social_account_id", "social_account_id"),
        sa.Index(
            "ix_post_targets_social_account_id_published_at", "social_account_id", "published_at"
        ),
        sa.Index("ix_post_targets_status_due_at", "status", "due_at"),
        sa.Index("ix_post_targets_status_lease_expires_at", "status", "lease_expires_at"),
        sa.Index("ix_post_targets_status_queued_at", "status", "queued_at"),
    )


def upgrade() -> None:
    with op.batch_alter_table("brands") as batch:
        batch.add_column(
            sa.Column("requires_approval", sa.Boolean(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("posts", copy_from=_copy_from("posts")) as batch:
        batch.add_column(sa.Column("approval", sa.JSON(), nullable=True))
        batch.alter_column(
            "status",
            existing_type=_status(POST_STATUSES, "post_status", 27),
            type_=_status([*POST_STATUSES, "pending_approval"], "post_status", 27),
            existing_nullable=False,
        )
    with op.batch_alter_table("post_targets", copy_from=_copy_from("post_targets")) as batch:
        batch.alter_column(
            "status",
            existing_type=_status(TARGET_STATUSES, "post_target_status", 20),
            type_=_status([*TARGET_STATUSES, "pending_approval"], "post_target_status", 24),
            existing_nullable=False,
        )
    op.create_table(
        "post_review_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_post_review_links_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_review_links_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_post_review_links_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_review_links")),
    )
    op.create_index(
        op.f("ix_post_review_links_post_id"), "post_review_links", ["post_id"], unique=False
    )
    op.create_table(
        "post_approval_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("review_link_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_name", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_post_approval_decisions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_approval_decisions_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_post_approval_decisions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_post_approval_decisions_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["review_link_id"],
            ["post_review_links.id"],
            name=op.f("fk_post_approval_decisions_review_link_id_post_review_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_approval_decisions")),
    )
    op.create_index(
        "ix_post_approval_decisions_post_id_created_at",
        "post_approval_decisions",
        ["post_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_post_approval_decisions_post_id_created_at", table_name="post_approval_decisions"
    )
    op.drop_table("post_approval_decisions")
    op.drop_index(op.f("ix_post_review_links_post_id"), table_name="post_review_links")
    op.drop_table("post_review_links")
    # Nothing may be left in the states this revision added.
    op.execute("UPDATE post_targets SET status = 'draft' WHERE status = 'pending_approval'")
    op.execute("UPDATE posts SET status = 'draft' WHERE status = 'pending_approval'")
    with op.batch_alter_table("post_targets") as batch:
        batch.alter_column(
            "status",
            existing_type=_status([*TARGET_STATUSES, "pending_approval"], "post_target_status", 24),
            type_=_status(TARGET_STATUSES, "post_target_status", 20),
            existing_nullable=False,
        )
    with op.batch_alter_table("posts") as batch:
        batch.alter_column(
            "status",
            existing_type=_status([*POST_STATUSES, "pending_approval"], "post_status", 27),
            type_=_status(POST_STATUSES, "post_status", 27),
            existing_nullable=False,
        )
        batch.drop_column("approval")
    with op.batch_alter_table("brands") as batch:
        batch.drop_column("requires_approval")
