"""Test databases on the real engines: a SQLite file always, PostgreSQL when TEST_POSTGRES_URL is set.

Every test gets a database of its own (a fresh file, or a fresh PostgreSQL database created next to the one
TEST_POSTGRES_URL names and dropped afterwards), so tests never see each other's rows. Other test packages can
use `open_database` and `ENGINES` too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.storage.db import Database, normalise_url

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")

ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(
            not POSTGRES_URL,
            reason='PostgreSQL variant: TEST_POSTGRES_URL is not set (start one with eval "$(bash .ci/postgres.sh)")',
        ),
    ),
]


@asynccontextmanager
async def _postgres_database() -> AsyncIterator[str]:
    assert POSTGRES_URL
    base = make_url(normalise_url(POSTGRES_URL))
    name = f"videobot_t_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def open_database(engine: str, tmp_path: Path, *, migrate: bool = True) -> AsyncIterator[Database]:
    """A Database on an empty database of `engine` ('sqlite' or 'postgres'), migrated unless told not to."""
    if engine == "sqlite":
        database = Database.from_url(f"sqlite:///{tmp_path / 'db' / 'test.sqlite3'}")
        try:
            if migrate:
                await database.upgrade()
            yield database
        finally:
            await database.close()
        return
    async with _postgres_database() as url:
        database = Database.from_url(url)
        try:
            if migrate:
                await database.upgrade()
            yield database
        finally:
            await database.close()
