from __future__ import annotations

from bot.storage.db import Database
from bot.storage.meta import MetaRepository


async def test_unknown_key_is_none(db: Database) -> None:
    assert await MetaRepository(db).get("commands_hash") is None


async def test_set_then_get_and_overwrite(db: Database) -> None:
    meta = MetaRepository(db)

    await meta.set("commands_hash", "abc")
    await meta.set("commands_hash", "def")

    assert await meta.get("commands_hash") == "def"
