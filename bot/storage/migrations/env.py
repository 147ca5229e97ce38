"""Alembic environment.

The bot runs migrations through `Database.upgrade()`, which hands its (sync-wrapped) connection over in
`config.attributes["connection"]`. For developers the Alembic CLI works too, e.g. to write the next revision:

    alembic -c bot/storage/alembic.ini -x url=sqlite:///data/dev.sqlite3 revision --autogenerate -m "..."

(`-x url=` or DATABASE_URL; plain URLs get their async driver.)
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from bot.storage.db import Database
from bot.storage.tables import metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    database = Database.from_url(url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(_configure_and_run)
    finally:
        await database.close()


def _run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("give the database with -x url=... or DATABASE_URL")
    asyncio.run(_run_from_url(url))


_run()
