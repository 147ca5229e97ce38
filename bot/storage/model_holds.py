"""Models kept off for a while after the gateway said it has no channel serving them (`model_not_found`).

Kept in the shared `meta` table so every process on one database stops offering the model at once, and a
restart does not forget it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from bot.storage.db import Database
from bot.storage.tables import meta

_PREFIX = "model_hold:"


class ModelHolds:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, model: str, until: datetime) -> None:
        """Keep `model` off until `until` (a later hold replaces an earlier one)."""
        key, value = _PREFIX + model, until.isoformat()
        statement = (
            self._db.insert(meta)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=[meta.c.key], set_={"value": value})
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def active(self, now: datetime) -> dict[str, datetime]:
        """The models held at `now`, with when each comes back; expired holds are forgotten."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(meta.c.key, meta.c.value).where(meta.c.key.like(_PREFIX + "%")))).all()
        held: dict[str, datetime] = {}
        expired: list[str] = []
        for key, value in rows:
            until = datetime.fromisoformat(value)
            if until > now:
                held[key.removeprefix(_PREFIX)] = until
            else:
                expired.append(key)
        if expired:
            async with self._db.write() as conn:
                await conn.execute(delete(meta).where(meta.c.key.in_(expired)))
        return held

    async def release(self, model: str) -> None:
        """Offer `model` again now (a moderator or operator knows it is back)."""
        async with self._db.write() as conn:
            await conn.execute(delete(meta).where(meta.c.key == _PREFIX + model))
