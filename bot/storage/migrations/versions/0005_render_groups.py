"""The takes of a request shown together: one status card and one result message per group.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12

A request with several takes (or a compare across models) is a group of renders: its takes share one status card
(its id stays in each render's `status_message_id`) and one result message holding every clip, whose id is kept
here and written once (the first take to finish creates it, the others add their clip to it). Discord keeps no
version of a message, so whoever edits the card or the result message takes a short lease on it here first: two
processes editing one message at once would each drop the other's change. Types are spelled out here (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "render_groups",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("gallery_message_id", sa.BigInteger(), nullable=True),
        sa.Column("gallery_shown", sa.String(length=64), nullable=True),
        sa.Column("removed", sa.Text(), nullable=True),
        sa.Column("card_owner", sa.String(length=128), nullable=True),
        sa.Column("card_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gallery_owner", sa.String(length=128), nullable=True),
        sa.Column("gallery_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_render_groups")),
    )


def downgrade() -> None:
    op.drop_table("render_groups")
