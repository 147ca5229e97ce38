"""Alembic migrations of the bot's schema (run through `Database.upgrade()`)."""
