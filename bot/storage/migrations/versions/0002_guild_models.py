"""Per-guild models: the server's default model and the models turned off in it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Both columns are NULL for every existing guild, which means "inherit": the bot's DEFAULT_MODEL, and no model
turned off. Types are spelled out here rather than imported from bot.storage.tables (see 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: a plain ALTER TABLE ADD COLUMN where the engine has one, a table rebuild on SQLite otherwise.
    with op.batch_alter_table("guild_settings") as batch:
        batch.add_column(sa.Column("default_model", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("disabled_models", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_column("disabled_models")
        batch.drop_column("default_model")
