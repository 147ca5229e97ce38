"""Credits spent or held, read the same way by the reservation and by `/video quota`; and the per-guild lock.

Credits follow the render state (see bot.domain.states): a render counts while it is in CHARGED_STATES and
stops counting once it is FAILED or DENIED, so a refund is nothing but a state change.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.quota_types import UsageSnapshot
from bot.domain.states import ACTIVE_STATES, CHARGED_STATES
from bot.storage.db import Database
from bot.storage.tables import credit_grants, guild_settings, renders

CHARGED = sorted(state.value for state in CHARGED_STATES)
ACTIVE = sorted(state.value for state in ACTIVE_STATES)


def day_key(now: datetime) -> str:
    """'YYYY-MM-DD' of `now` in UTC: the key of the quota day."""
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def month_key(now: datetime) -> str:
    """'YYYY-MM' of `now` in UTC: the key of the budget month."""
    return now.astimezone(UTC).strftime("%Y-%m")


async def lock_guild(db: Database, conn: AsyncConnection, guild_id: int) -> None:
    """Serialise this transaction with every other one that locks the same guild, until it ends.

    The guild's settings row is created if missing, then written: on PostgreSQL the UPDATE holds the row lock
    until commit; on SQLite the transaction already holds the database write lock (`Database.write`).
    """
    await conn.execute(db.insert(guild_settings).values(guild_id=guild_id).on_conflict_do_nothing())
    await conn.execute(
        update(guild_settings)
        .where(guild_settings.c.guild_id == guild_id)
        .values(reservation_seq=guild_settings.c.reservation_seq + 1)
    )


async def read_usage(conn: AsyncConnection, guild_id: int, user_id: int, now: datetime) -> UsageSnapshot:
    """What the member and the guild have spent or hold today (UTC) and this month, as of `now`."""
    day = day_key(now)
    charged = renders.c.state.in_(CHARGED)
    member = and_(renders.c.guild_id == guild_id, renders.c.user_id == user_id)

    used_today = await conn.scalar(
        select(func.coalesce(func.sum(renders.c.cost), 0)).where(member, renders.c.created_day == day, charged)
    )
    in_flight_row = (
        await conn.execute(
            select(
                func.count(case((renders.c.state.in_(ACTIVE), 1))),
                func.max(renders.c.created_at),
            ).where(member)
        )
    ).one()
    granted = await conn.scalar(
        select(func.coalesce(func.sum(credit_grants.c.credits), 0)).where(
            credit_grants.c.guild_id == guild_id,
            credit_grants.c.user_id == user_id,
            credit_grants.c.day == day,
        )
    )
    guild_today, guild_month = await read_guild_spend(conn, guild_id, now)
    return UsageSnapshot(
        member_used_today=int(used_today or 0),
        member_granted_today=int(granted or 0),
        member_in_flight=int(in_flight_row[0]),
        member_last_request_at=in_flight_row[1],
        guild_used_today=guild_today,
        guild_used_month=guild_month,
    )


async def read_guild_spend(conn: AsyncConnection, guild_id: int, now: datetime) -> tuple[int, int]:
    """Credits the whole guild spent or holds (today, this month), UTC."""
    day = day_key(now)
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(case((renders.c.created_day == day, renders.c.cost), else_=0)), 0),
                func.coalesce(func.sum(renders.c.cost), 0),
            ).where(
                renders.c.guild_id == guild_id,
                renders.c.created_month == month_key(now),
                renders.c.state.in_(CHARGED),
            )
        )
    ).one()
    return int(row[0]), int(row[1])
