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
            rows = (
                await conn.execute(
                    # autoescape: the "_" in the prefix is a LIKE wildcard otherwise, and would match other keys.
                    select(meta.c.key, meta.c.value).where(meta.c.key.startswith(_PREFIX, autoescape=True))
                )
            ).all()
        held: dict[str, datetime] = {}
        expired: list[tuple[str, str]] = []
        for key, value in rows:
            try:
                until = datetime.fromisoformat(value)
            except ValueError:
                until = None  # not written by hold(): treated as over rather than failing every request
            if until is not None and until > now:
                held[key.removeprefix(_PREFIX)] = until
            else:
                expired.append((key, value))
        if expired:
            async with self._db.write() as conn:
                for key, value in expired:
                    # Only the hold that was read: another process may have held the model again meanwhile.
                    await conn.execute(delete(meta).where(meta.c.key == key, meta.c.value == value))
        return held
