"""The bot's own queue: each waiting render's place in line, and indexes for the queue's questions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09

MAX_RENDERS_AT_API keeps renders waiting in the database until a slot at the API frees; the card shows the place
in line, written by the tracker's queue pass (`queue_place`). Admitting a render counts the renders at the API and
reads those waiting (by state), and the fair order looks at renders started since the oldest waiting one arrived
(by `ready_at`, now set when a render is first let through to the API). Types are spelled out here (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("renders") as batch:
        batch.add_column(sa.Column("queue_place", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_renders_state"), "renders", ["state"])
    op.create_index(op.f("ix_renders_ready_at"), "renders", ["ready_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_renders_ready_at"), table_name="renders")
    op.drop_index(op.f("ix_renders_state"), table_name="renders")
    with op.batch_alter_table("renders") as batch:
        batch.drop_column("queue_place")
