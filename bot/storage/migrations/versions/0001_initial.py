"""Initial schema: renders, stored images, guild configuration, audit log, spend alerts, meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Types are spelled out here rather than imported from bot.storage.tables so that this revision keeps
describing the same schema whatever later code does. `UtcDateTime` is stored as DateTime(timezone=True).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _snowflake(name: str, *, nullable: bool = True, key: bool = False) -> sa.Column[int]:
    if key:
        return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False)
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _serial() -> sa.Column[int]:
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "renders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("take_index", sa.Integer(), nullable=False),
        sa.Column("takes", sa.Integer(), nullable=False),
        _snowflake("guild_id", nullable=False),
        _snowflake("channel_id", nullable=False),
        _snowflake("user_id", nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.Column("created_day", sa.String(length=10), nullable=False),
        sa.Column("created_month", sa.String(length=7), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("progress", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("video_url", sa.Text(), nullable=True),
        sa.Column("failure_kind", sa.String(length=32), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        _snowflake("status_message_id"),
        _snowflake("result_message_id"),
        _snowflake("thread_id"),
        sa.Column("upload_limit", sa.BigInteger(), nullable=False),
        _timestamp("submitted_at"),
        _timestamp("started_at"),
        _timestamp("finished_at"),
        _timestamp("next_poll_at"),
        sa.Column("poll_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _timestamp("lease_until"),
        sa.Column("shown_hash", sa.String(length=64), nullable=True),
        sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False),
        _snowflake("approval_message_id"),
        sa.Column("approval_reason", sa.Text(), nullable=True),
        _snowflake("decided_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renders")),
    )
    op.create_index(op.f("ix_renders_closed_next_poll_at"), "renders", ["closed", "next_poll_at"])
    op.create_index(op.f("ix_renders_group_id"), "renders", ["group_id"])
    op.create_index(op.f("ix_renders_guild_id_created_day"), "renders", ["guild_id", "created_day"])
    op.create_index(op.f("ix_renders_guild_id_created_month"), "renders", ["guild_id", "created_month"])
    op.create_index(op.f("ix_renders_guild_id_user_id_created_day"), "renders", ["guild_id", "user_id", "created_day"])
    op.create_index(op.f("ix_renders_task_id"), "renders", ["task_id"])

    op.create_table(
        "images",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_images")),
    )

    op.create_table(
        "guild_settings",
        _snowflake("guild_id", key=True),
        sa.Column("default_daily_credits", sa.Integer(), nullable=True),
        sa.Column("daily_budget", sa.Integer(), nullable=True),
        sa.Column("monthly_budget", sa.Integer(), nullable=True),
        sa.Column("max_in_flight_per_member", sa.Integer(), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=True),
        sa.Column("exempt_role_ids", sa.Text(), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        _snowflake("moderator_channel_id"),
        sa.Column("approval_rules", sa.Text(), nullable=True),
        sa.Column("reservation_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_settings")),
    )

    op.create_table(
        "member_limits",
        _snowflake("guild_id", key=True),
        _snowflake("user_id", key=True),
        sa.Column("daily_credits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_member_limits")),
    )

    op.create_table(
        "role_limits",
        _snowflake("guild_id", key=True),
        _snowflake("role_id", key=True),
        sa.Column("daily_credits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "role_id", name=op.f("pk_role_limits")),
    )

    op.create_table(
        "credit_grants",
        _serial(),
        _snowflake("guild_id", nullable=False),
        _snowflake("user_id", nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        _snowflake("granted_by", nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_grants")),
    )
    op.create_index(op.f("ix_credit_grants_guild_id_user_id_day"), "credit_grants", ["guild_id", "user_id", "day"])

    op.create_table(
        "bans",
        _snowflake("guild_id", key=True),
        _snowflake("user_id", key=True),
        _snowflake("banned_by", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_bans")),
    )

    op.create_table(
        "channel_settings",
        _snowflake("guild_id", key=True),
        _snowflake("channel_id", key=True),
        sa.Column("access", sa.String(length=8), nullable=True),
        sa.Column("defaults", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_channel_settings")),
    )

    op.create_table(
        "audit_log",
        _serial(),
        _snowflake("guild_id", nullable=False),
        _snowflake("actor_id", nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_guild_id_id"), "audit_log", ["guild_id", "id"])

    op.create_table(
        "spend_alerts",
        _snowflake("guild_id", key=True),
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "period_key", "threshold", name=op.f("pk_spend_alerts")),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )


def downgrade() -> None:
    for table in (
        "meta",
        "spend_alerts",
        "audit_log",
        "channel_settings",
        "bans",
        "credit_grants",
        "role_limits",
        "member_limits",
        "guild_settings",
        "images",
        "renders",
    ):
        op.drop_table(table)
