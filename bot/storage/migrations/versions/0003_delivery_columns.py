"""Explicit delivery and timing columns in place of sentinels.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Before: "the channel is gone" was a magic value in shown_hash, "a clip post was under way" was a 0 in
result_message_id, and poll_count counted both status calls and retries. Now each has a column of its own, and the
render keeps what fault handling needs: when it could first be sent (the submit deadline), how long the API was
seen working on it (the render timeout counts that, not time the bot was down), how a delivery stands when
Discord refuses it, and (Continue) the clip it continues and its place in that chain. Existing rows are converted.
Indexes serve /video history (a server's renders, newest first) and the estimates (the renders finished last).
Types are spelled out here (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[object], ...]:
    # Built afresh for each use: a Column belongs to the one table it is added to.
    return (
        sa.Column("chat_gone", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("posting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("api_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chat_blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chat_blocked_reason", sa.String(length=16), nullable=True),
        sa.Column("requester_told", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("fallback", sa.String(length=16), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("chain_position", sa.Integer(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("renders") as batch:
        for column in _columns():
            batch.add_column(column)
    op.create_index(op.f("ix_renders_guild_id_created_at_id"), "renders", ["guild_id", "created_at", "id"])
    op.create_index(op.f("ix_renders_finished_at"), "renders", ["finished_at"])
    renders = sa.table(
        "renders",
        sa.column("shown_hash", sa.String()),
        sa.column("chat_gone", sa.Boolean()),
        sa.column("result_message_id", sa.BigInteger()),
        sa.column("posting_since", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        renders.update().where(renders.c.shown_hash == "channel-gone").values(chat_gone=sa.true(), shown_hash=None)
    )
    op.execute(
        renders.update()
        .where(renders.c.result_message_id == 0)
        .values(posting_since=renders.c.updated_at, result_message_id=None)
    )


def downgrade() -> None:
    renders = sa.table(
        "renders",
        sa.column("shown_hash", sa.String()),
        sa.column("chat_gone", sa.Boolean()),
        sa.column("result_message_id", sa.BigInteger()),
        sa.column("posting_since", sa.DateTime(timezone=True)),
    )
    op.execute(renders.update().where(renders.c.chat_gone == sa.true()).values(shown_hash="channel-gone"))
    op.execute(
        renders.update()
        .where(renders.c.posting_since.is_not(None), renders.c.result_message_id.is_(None))
        .values(result_message_id=0)
    )
    op.drop_index(op.f("ix_renders_finished_at"), table_name="renders")
    op.drop_index(op.f("ix_renders_guild_id_created_at_id"), table_name="renders")
    with op.batch_alter_table("renders") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
