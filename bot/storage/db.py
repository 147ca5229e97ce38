"""The database handle: one async engine for SQLite (default) or PostgreSQL, and its migrations.

Repositories take a `Database` and use two kinds of transactions from it:

* `read()`  — a plain transaction for queries;
* `write()` — a transaction that holds the write lock from its first statement. On SQLite this is
  `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes later fails with SQLITE_BUSY
  (without waiting) when another connection committed in between, whereas `BEGIN IMMEDIATE` simply waits
  for the lock (busy_timeout). On PostgreSQL it is an ordinary READ COMMITTED transaction; repositories take
  row locks where they need serialisation.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any 64-bit number, shared by every process of this bot: PostgreSQL shards starting together migrate one by one.
_MIGRATION_LOCK_KEY = 7_716_019_244_511_882_245

_SQLITE_BEGIN_OPTION = "videobot_sqlite_begin"

Insert = postgresql.Insert | sqlite.Insert


def default_sqlite_url(data_dir: Path) -> str:
    """The URL of the default database: a SQLite file in `data_dir`."""
    return f"sqlite+aiosqlite:///{(data_dir / 'videobot.sqlite3').resolve()}"


def normalise_url(url: str) -> str:
    """Pick the async driver for URLs written the usual way (`postgres://`, `postgresql://`, `sqlite:///`)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Database:
    """An async engine plus what the repositories need to know about it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    @classmethod
    def from_url(cls, url: str) -> Database:
        """Build the engine for `url` (see `normalise_url`); creates the folder of a SQLite file."""
        url = normalise_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            return cls(_sqlite_engine(url, parsed.database))
        if parsed.get_backend_name() == "postgresql":
            engine = create_async_engine(
                url, pool_size=10, max_overflow=10, pool_timeout=30, pool_recycle=1800, pool_pre_ping=True
            )
            return cls(engine)
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for queries."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write; on SQLite it holds the write lock from the start."""
        async with self.engine.connect() as conn:
            if not self.is_postgres:
                await conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            async with conn.begin():
                yield conn

    def insert(self, table: Table) -> Insert:
        """An INSERT with this dialect's ON CONFLICT clauses (same API on both engines)."""
        if self.is_postgres:
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision (safe to call at every start)."""
        async with self.engine.connect() as conn:
            if not self.is_postgres:
                await conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            async with conn.begin():
                if self.is_postgres:
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                await conn.run_sync(_run_upgrade)
        log.info("database schema is up to date (%s)", self.engine.dialect.name)

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration built in code, so migrations run from any cwd and from an installed copy."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run_upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _sqlite_engine(url: str, database: str | None) -> AsyncEngine:
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    if not in_memory and database:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so `_on_begin` decides how each one starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
