from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.storage.db import Database, default_sqlite_url, normalise_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("sqlite:///data/bot.sqlite3", "sqlite+aiosqlite:///data/bot.sqlite3"),
        ("sqlite:////abs/bot.sqlite3", "sqlite+aiosqlite:////abs/bot.sqlite3"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalise_url_picks_the_async_driver(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_default_sqlite_url_is_a_file_in_the_data_folder(tmp_path: Path) -> None:
    assert default_sqlite_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/videobot.sqlite3"


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        Database.from_url("mysql://u:p@h/d")


async def test_sqlite_file_gets_its_folder_and_wal_pragmas(tmp_path: Path) -> None:
    db = Database.from_url(default_sqlite_url(tmp_path / "new" / "data"))
    try:
        async with db.engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await db.close()

    assert (tmp_path / "new" / "data" / "videobot.sqlite3").exists()
    assert (journal, timeout, foreign_keys) == ("wal", 30000, 1)
    assert db.is_postgres is False


async def test_is_postgres_follows_the_engine(db: Database, engine_name: str) -> None:
    assert db.is_postgres is (engine_name == "postgres")
