"""Spend alerts already sent, so each threshold of each period is announced once."""

from __future__ import annotations

from bot.storage.db import Database
from bot.storage.tables import spend_alerts


class AlertRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, guild_id: int, period_key: str, threshold: int) -> bool:
        """Record that the alert is being sent; True only for the first caller (across processes too).

        `period_key` names the budget period, e.g. 'day:2026-11-24' or 'month:2026-11'.
        """
        statement = (
            self._db.insert(spend_alerts)
            .values(guild_id=guild_id, period_key=period_key, threshold=threshold)
            .on_conflict_do_nothing()
            .returning(spend_alerts.c.threshold)
        )
        async with self._db.write() as conn:
            return (await conn.execute(statement)).first() is not None
