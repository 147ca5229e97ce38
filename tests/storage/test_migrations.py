from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from bot.domain.quota_types import GuildRules
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database, alembic_config
from bot.storage.tables import metadata

GUILD = 1_000_000_000_000_000_001


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
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def _upgrade_to(database: Database, revision: str) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def test_guilds_configured_before_per_guild_models_keep_their_settings_and_inherit_the_models(
    blank_db: Database,
) -> None:
    await _upgrade_to(blank_db, "0001")
    async with blank_db.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO guild_settings (guild_id, daily_budget, paused) VALUES (:guild, 300, :paused)"),
            {"guild": GUILD, "paused": True},
        )

    await blank_db.upgrade()

    rules = await GuildConfigRepository(blank_db, GuildRules()).rules(GUILD)
    assert (rules.daily_budget, rules.paused) == (300, True)
    assert (rules.default_model, rules.disabled_models) == (None, frozenset())
