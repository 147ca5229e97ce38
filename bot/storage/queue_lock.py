"""The lock of the bot's own queue, and the gateway hold kept with it: one row of the meta table.

Every admission to the API (and the queue pass that writes places) takes this row's lock first, so processes
sharing the database decide one after the other, each seeing the renders the one before let through. The row's
value is the hold the gateway's last 429 on a create left (JSON), or `{}`.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.queue import ApiHold
from bot.storage.db import Database
from bot.storage.tables import meta

QUEUE_KEY = "api_queue"


async def lock_queue(db: Database, conn: AsyncConnection) -> ApiHold | None:
    """Serialise this transaction with every other one that locks the queue, until it ends; returns the hold.

    On PostgreSQL the row is locked FOR UPDATE (created first if missing); on SQLite the transaction already
    holds the database write lock (`Database.write`).
    """
    await conn.execute(db.insert(meta).values(key=QUEUE_KEY, value="{}").on_conflict_do_nothing())
    query = select(meta.c.value).where(meta.c.key == QUEUE_KEY)
    if db.is_postgres:
        query = query.with_for_update()
    return _parse(await conn.scalar(query))


async def read_hold(conn: AsyncConnection) -> ApiHold | None:
    """The hold as last written, without taking the lock (a look, not a decision)."""
    return _parse(await conn.scalar(select(meta.c.value).where(meta.c.key == QUEUE_KEY)))


async def write_hold(conn: AsyncConnection, hold: ApiHold | None) -> None:
    """Replace the hold; only within a transaction that took `lock_queue`."""
    value = "{}" if hold is None else json.dumps({"at_api": hold.at_api, "until": hold.until.isoformat()})
    await conn.execute(update(meta).where(meta.c.key == QUEUE_KEY).values(value=value))


def _parse(raw: str | None) -> ApiHold | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        if not data:
            return None
        return ApiHold(at_api=int(data["at_api"]), until=datetime.fromisoformat(str(data["until"])))
    except (ValueError, KeyError, TypeError):
        # A value this version can't read holds nothing back: the next 429 writes a fresh one.
        return None
