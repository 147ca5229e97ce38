from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from bot.storage.db import Database
from bot.storage.tables import metadata


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_tables_module(db: Database) -> None:
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(_differences)

    assert differences == []


async def test_upgrade_creates_every_table(blank_db: Database) -> None:
    await blank_db.upgrade()

    async with blank_db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert names == set(metadata.tables) | {"alembic_version"}


async def test_upgrade_twice_keeps_the_data(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))

    await db.upgrade()

    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT value FROM meta"))).scalar_one() == "v"


async def test_upgrade_works_from_another_working_directory(
    blank_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert not (Path(os.getcwd()) / "bot").exists()

    await blank_db.upgrade()

    async with blank_db.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version == "0001"
