from __future__ import annotations

import asyncio

from bot.storage.alerts import AlertRepository
from bot.storage.db import Database
from tests.storage.builders import GUILD


async def test_alert_is_claimed_only_once_under_concurrency(db: Database) -> None:
    alerts = AlertRepository(db)

    results = await asyncio.gather(*(alerts.claim(GUILD, "day:2026-11-24", 80) for _ in range(10)))

    assert sorted(results) == [False] * 9 + [True]


async def test_other_threshold_period_or_guild_is_a_new_alert(db: Database) -> None:
    alerts = AlertRepository(db)
    await alerts.claim(GUILD, "day:2026-11-24", 80)

    assert await alerts.claim(GUILD, "day:2026-11-24", 100)
    assert await alerts.claim(GUILD, "day:2026-11-25", 80)
    assert await alerts.claim(GUILD, "month:2026-11", 80)
    assert await alerts.claim(GUILD + 1, "day:2026-11-24", 80)
