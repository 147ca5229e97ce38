"""The schema, as SQLAlchemy Core tables. Alembic's migrations must produce exactly this (a test checks it).

Discord ids are 64-bit: every id column is BigInteger. Timestamps are timezone-aware UTC on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine.

    PostgreSQL stores TIMESTAMP WITH TIME ZONE. SQLite has no such type, so values are stored as naive UTC
    (which also keeps them comparable as text) and given their UTC zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _id(name: str, **kwargs: Any) -> Column[int]:
    """A Discord snowflake column."""
    return Column(name, BigInteger, **kwargs)


def _serial(name: str) -> Column[int]:
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    return Column(name, BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


renders = Table(
    "renders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("group_id", String(32), nullable=False),  # the takes of one request share it
    Column("take_index", Integer, nullable=False),
    Column("takes", Integer, nullable=False),
    _id("guild_id", nullable=False),
    _id("channel_id", nullable=False),
    _id("user_id", nullable=False),
    Column("request_json", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("cost", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("created_day", String(10), nullable=False),  # 'YYYY-MM-DD' UTC: usage sums without date maths
    Column("created_month", String(7), nullable=False),  # 'YYYY-MM' UTC
    Column("task_id", String(128)),
    Column("request_id", String(128)),
    Column("progress", Integer, nullable=False, server_default=text("0")),
    Column("video_url", Text),
    Column("failure_kind", String(32)),
    Column("failure_detail", Text),
    _id("status_message_id"),
    _id("result_message_id"),
    _id("thread_id"),
    Column("upload_limit", BigInteger, nullable=False),  # bytes, from the interaction at accept time
    Column("submitted_at", UtcDateTime),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("next_poll_at", UtcDateTime),
    Column("poll_count", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", String(128)),
    Column("lease_until", UtcDateTime),
    Column("shown_hash", String(64)),  # hash of what the status message shows now
    Column("closed", Boolean, nullable=False, server_default=false()),  # final state shown, nothing left to do
    _id("approval_message_id"),
    Column("approval_reason", Text),
    _id("decided_by"),
    # The chat side: the channel is gone (DMs only), or a post is under way (after a crash: look for it first).
    Column("chat_gone", Boolean, nullable=False, server_default=false()),
    Column("posting_since", UtcDateTime),
    Column("attempts", Integer, nullable=False, server_default=text("0")),  # tries of the step it is at
    Column("ready_at", UtcDateTime),  # first let out of the bot's queue to the API: the submit deadline's start
    # Seconds the API was seen working on it, answer to answer: the render timeout counts these, not downtime.
    Column("api_seconds", Float, nullable=False, server_default=text("0")),
    Column("last_answer_at", UtcDateTime),
    # Discord refuses the clip (a missing permission a moderator can give back, or an outage): until when to try.
    Column("chat_blocked_until", UtcDateTime),
    Column("chat_blocked_reason", String(16)),
    Column("requester_told", Boolean, nullable=False, server_default=false()),  # DM'd about the wait once
    Column("fallback", String(16)),  # how far down the delivery fallbacks a permanent refusal took it
    # Continue: the clip this one continues, and its place in the chain (1: the first clip, then parent's + 1).
    Column("parent_id", String(32)),
    Column("chain_position", Integer),
    # Place in the bot's own queue (1: next when a slot frees) while it waits for one; NULL otherwise.
    Column("queue_place", Integer),
    Index(None, "closed", "next_poll_at"),
    Index(None, "guild_id", "created_at", "id"),  # /video history, newest first, paged
    Index(None, "finished_at"),  # estimates read the renders finished last
    Index(None, "guild_id", "created_day"),
    Index(None, "guild_id", "user_id", "created_day"),
    Index(None, "guild_id", "created_month"),
    Index(None, "task_id"),
    Index(None, "group_id"),
    Index(None, "state"),  # the bot's queue: renders at the API, renders waiting for a slot
    Index(None, "ready_at"),  # the bot's queue: renders started while others waited
)

# What the takes of one request (a group: takes, or the models of a compare) share in the chat beyond their renders'
# rows: the one result message holding every clip (created once), and who may edit the group's messages right now
# (Discord keeps no version, so two processes editing one message at once would each drop the other's change).
render_groups = Table(
    "render_groups",
    metadata,
    Column("group_id", String(32), primary_key=True),
    _id("gallery_message_id"),
    Column("gallery_shown", String(64)),  # fingerprint of the takes' outcomes the result message shows
    Column("removed", Text),  # JSON list of render ids a member deleted from the result message
    Column("card_owner", String(128)),
    Column("card_until", UtcDateTime),
    Column("gallery_owner", String(128)),
    Column("gallery_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mime", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Columns left NULL inherit the bot-wide default; for the optional limits -1 stores "unlimited". Each column is a
# guild setting of bot.domain.settings_catalog (its codec says what is stored).
guild_settings = Table(
    "guild_settings",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    Column("default_daily_credits", Integer),
    Column("daily_budget", Integer),
    Column("monthly_budget", Integer),
    Column("max_in_flight_per_member", Integer),
    Column("cooldown_seconds", Integer),
    Column("exempt_role_ids", Text),  # JSON list of role ids
    Column("paused", Boolean, nullable=False, server_default=false()),
    _id("moderator_channel_id"),
    Column("approval_rules", Text),  # JSON of ApprovalRules
    Column("default_model", String(64)),  # a model table key; NULL = the bot's DEFAULT_MODEL
    Column("disabled_models", Text),  # JSON list of model keys turned off in this guild
    # Bumped by every reservation: the row lock it takes serialises reservations of one guild.
    Column("reservation_seq", BigInteger, nullable=False, server_default=text("0")),
)

member_limits = Table(
    "member_limits",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    _id("user_id", primary_key=True, autoincrement=False),
    Column("daily_credits", Integer, nullable=False),
)

role_limits = Table(
    "role_limits",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    _id("role_id", primary_key=True, autoincrement=False),
    Column("daily_credits", Integer, nullable=False),
)

credit_grants = Table(
    "credit_grants",
    metadata,
    _serial("id"),
    _id("guild_id", nullable=False),
    _id("user_id", nullable=False),
    Column("day", String(10), nullable=False),  # 'YYYY-MM-DD' UTC the credits are for
    Column("credits", Integer, nullable=False),
    _id("granted_by", nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "guild_id", "user_id", "day"),
)

bans = Table(
    "bans",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    _id("user_id", primary_key=True, autoincrement=False),
    _id("banned_by", nullable=False),
    Column("reason", Text),
    Column("created_at", UtcDateTime, nullable=False),
)

channel_settings = Table(
    "channel_settings",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    _id("channel_id", primary_key=True, autoincrement=False),
    Column("access", String(8)),  # 'allow' | 'deny' | NULL
    Column("defaults", Text),  # JSON of ChannelDefaults
)

audit_log = Table(
    "audit_log",
    metadata,
    _serial("id"),
    _id("guild_id", nullable=False),
    _id("actor_id", nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("before", Text),  # JSON
    Column("after", Text),  # JSON
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "guild_id", "id"),
)

spend_alerts = Table(
    "spend_alerts",
    metadata,
    _id("guild_id", primary_key=True, autoincrement=False),
    Column("period_key", String(32), primary_key=True),  # 'day:2026-11-24' or 'month:2026-11'
    Column("threshold", Integer, primary_key=True, autoincrement=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
