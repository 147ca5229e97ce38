"""A small key/value store for the bot's own bookkeeping (e.g. the hash of the synced command tree)."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import meta


class MetaRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        async with self._db.read() as conn:
            value = await conn.scalar(select(meta.c.value).where(meta.c.key == key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        statement = (
            self._db.insert(meta)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=[meta.c.key], set_={"value": value})
        )
        async with self._db.write() as conn:
            await conn.execute(statement)
