"""Renders: the reservation that admits them, their state moves, the tracker's leases and usage reports."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Row, case, false, func, or_, select, update

from bot.domain.quota_types import Decision, UsageSnapshot
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import ACTIVE_STATES, FailureKind, RenderState, sources_of
from bot.storage.db import Database
from bot.storage.tables import renders
from bot.storage.usage import CHARGED, day_key, lock_guild, month_key, read_guild_spend, read_usage

log = logging.getLogger(__name__)

# Set once when the render is reserved; `move` and `update` refuse to touch them.
_FIXED_COLUMNS = frozenset(
    {
        "id",
        "group_id",
        "take_index",
        "takes",
        "guild_id",
        "user_id",
        "request_json",
        "state",
        "cost",
        "created_at",
        "updated_at",
        "created_day",
        "created_month",
    }
)
_UPDATABLE_COLUMNS = frozenset(renders.c.keys()) - _FIXED_COLUMNS
_TRACKED = sorted(state.value for state in ACTIVE_STATES | {RenderState.SUCCEEDED})


def _record(row: Row[Any]) -> RenderRecord:
    values = dict(row._mapping)
    values["request"] = VideoRequest.from_dict(json.loads(values.pop("request_json")))
    values["state"] = RenderState(values["state"])
    kind = values["failure_kind"]
    values["failure_kind"] = FailureKind(kind) if kind else None
    values["closed"] = bool(values["closed"])
    return RenderRecord(**values)


class RenderRepository:
    """All SQL about renders."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(
        self,
        new: list[NewRender],
        decide: Callable[[UsageSnapshot], Decision],
        *,
        now: datetime,
        first_look_at: datetime | None = None,
    ) -> tuple[Decision, list[RenderRecord]]:
        """Decide and, if accepted, insert the takes of one request, atomically per guild.

        Takes the guild lock before reading the usage, so concurrent requests of a guild are decided one after
        the other, each seeing the credits the previous ones reserved. `decide` runs inside the transaction: keep
        it pure and quick. Nothing is written when the decision is a refusal. `first_look_at` (default `now`) is
        when the tracker may first pick the renders up.
        """
        if not new:
            raise ValueError("reserve() needs at least one render")
        first = new[0]
        if any((n.guild_id, n.user_id) != (first.guild_id, first.user_id) for n in new):
            raise ValueError("the renders of one reservation must share guild and member")
        async with self._db.write() as conn:
            await lock_guild(self._db, conn, first.guild_id)
            usage = await read_usage(conn, first.guild_id, first.user_id, now)
            decision = decide(usage)
            if not decision.accepted:
                return decision, []
            rows = _new_rows(new, decision, now, first_look_at or now)
            result = await conn.execute(
                renders.insert().returning(*renders.c, sort_by_parameter_order=True),
                rows,
            )
            records = [_record(row) for row in result]
        log.info(
            "reserved %d render(s) group=%s guild=%s user=%s cost=%d state=%s",
            len(records),
            records[0].group_id,
            first.guild_id,
            first.user_id,
            sum(r.cost for r in records),
            records[0].state.value,
        )
        return decision, records

    async def get(self, render_id: str) -> RenderRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(renders).where(renders.c.id == render_id))).first()
        return _record(row) if row else None

    async def list_group(self, group_id: str) -> list[RenderRecord]:
        """The takes of one request, in take order."""
        query = select(renders).where(renders.c.group_id == group_id).order_by(renders.c.take_index)
        return await self._select(query)

    async def move(self, render_id: str, to: RenderState, *, now: datetime, **fields: Any) -> RenderRecord | None:
        """Move a render to `to` (setting `fields` too) if it is in a state allowed to move there.

        Returns the updated record, or None when the render is missing or its state does not lead to `to`
        (someone else moved it first); the row is then left as it was.
        """
        sources = sorted(state.value for state in sources_of(to))
        values = {**_column_values(fields), "state": to.value, "updated_at": now}
        statement = (
            update(renders)
            .where(renders.c.id == render_id, renders.c.state.in_(sources))
            .values(values)
            .returning(*renders.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            log.debug("render %s not moved to %s: not in %s", render_id, to.value, sources)
            return None
        return _record(row)

    async def update(self, render_id: str, *, now: datetime, **fields: Any) -> None:
        """Set columns other than the state (progress, status_message_id, shown_hash, closed, next_poll_at...)."""
        values = {**_column_values(fields), "updated_at": now}
        async with self._db.write() as conn:
            await conn.execute(update(renders).where(renders.c.id == render_id).values(values))

    async def set_first_status_message(self, render_id: str, message_id: int, *, now: datetime, **fields: Any) -> bool:
        """Record the render's first status message, unless someone else already did (then False: one must go)."""
        values = {**_column_values(fields), "status_message_id": message_id, "updated_at": now}
        statement = (
            update(renders).where(renders.c.id == render_id, renders.c.status_message_id.is_(None)).values(values)
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def claim_due(
        self,
        owner: str,
        *,
        now: datetime,
        limit: int,
        lease_seconds: float,
        states: Collection[RenderState] | None = None,
        oldest_first: bool = False,
        overdue_before: datetime | None = None,
        exclude: Collection[str] = (),
    ) -> list[RenderRecord]:
        """Lease up to `limit` open renders whose poll time has come: the longest due first, or with
        `oldest_first` the longest-running (submitted earliest); `states` limits the claim to those states.

        With `oldest_first`, renders due since before `overdue_before` come first, longest due first, so the
        oldest cannot keep a young render waiting for ever. Renders in `exclude` (the caller's own, in hand) are
        left out. A render leased by another owner is skipped until its lease expires. On PostgreSQL the candidate
        rows are locked with SKIP LOCKED and the lease condition is checked again on the row being updated, so two
        processes never both claim one render.
        """
        free = or_(renders.c.lease_until.is_(None), renders.c.lease_until < now, renders.c.lease_owner == owner)
        starving = overdue_before is not None and oldest_first
        if oldest_first:
            order: list[Any] = []
            if overdue_before is not None:
                overdue = renders.c.next_poll_at <= overdue_before
                order += [case((overdue, 0), else_=1), case((overdue, renders.c.next_poll_at), else_=None)]
            order += [renders.c.submitted_at.is_(None), renders.c.submitted_at, renders.c.id]
        else:
            order = [renders.c.next_poll_at, renders.c.id]
        wanted = [renders.c.closed == false(), renders.c.next_poll_at <= now, free]
        if states is not None:
            wanted.append(renders.c.state.in_(sorted(state.value for state in states)))
        if exclude:
            wanted.append(renders.c.id.not_in(sorted(exclude)))
        candidates = select(renders.c.id).where(*wanted).order_by(*order).limit(limit)
        if self._db.is_postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(renders)
            .where(renders.c.id.in_(candidates.scalar_subquery()), free)
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(*renders.c)
        )
        async with self._db.write() as conn:
            claimed = [_record(row) for row in await conn.execute(statement)]

        # RETURNING follows no ORDER BY: restore the order the caller asked for.
        def overdue_first(r: RenderRecord) -> tuple[bool, datetime]:
            due = r.next_poll_at or now
            if starving and overdue_before is not None and due <= overdue_before:
                return (False, due)
            return (True, now)

        if oldest_first:
            claimed.sort(key=lambda r: (*overdue_first(r), r.submitted_at is None, r.submitted_at or now, r.id))
        else:
            claimed.sort(key=lambda r: (r.next_poll_at or now, r.id))
        return claimed

    async def release(
        self,
        render_id: str,
        owner: str,
        *,
        next_poll_at: datetime,
        seen_state: RenderState | None = None,
        now: datetime | None = None,
    ) -> None:
        """Give the lease back and say when the render is due again; no-op if the lease is no longer ours.

        With `seen_state`, a render whose state changed under the step (a moderator approved it meanwhile) is
        due at `now` instead: the step's "look again in an hour" was about a state that is gone.
        """
        due: Any = next_poll_at
        if seen_state is not None:
            due = case((renders.c.state == seen_state.value, next_poll_at), else_=now or next_poll_at)
        statement = (
            update(renders)
            .where(renders.c.id == render_id, renders.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, next_poll_at=due)
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            log.warning("render %s: lease of %s was lost before release", render_id, owner)

    async def extend_lease(self, render_id: str, owner: str, *, until: datetime) -> bool:
        """Keep the lease while a long step runs; False if another process has taken the render meanwhile."""
        statement = (
            update(renders).where(renders.c.id == render_id, renders.c.lease_owner == owner).values(lease_until=until)
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def in_flight(self, guild_id: int | None = None) -> list[RenderRecord]:
        """Renders not finished yet: active ones and those produced but not delivered, oldest first."""
        query = select(renders).where(renders.c.state.in_(_TRACKED))
        if guild_id is not None:
            query = query.where(renders.c.guild_id == guild_id)
        return await self._select(query.order_by(renders.c.created_at, renders.c.id))

    async def count_open(self) -> int:
        """Renders the tracker still has something to do for."""
        async with self._db.read() as conn:
            count = await conn.scalar(select(func.count()).select_from(renders).where(renders.c.closed == false()))
        return int(count or 0)

    async def usage_by_member(self, guild_id: int, since_day: str) -> list[tuple[int, int, int]]:
        """(user_id, credits, renders) per member since `since_day` ('YYYY-MM-DD', inclusive), biggest first."""
        credits = func.sum(renders.c.cost)
        query = (
            select(renders.c.user_id, credits, func.count())
            .where(renders.c.guild_id == guild_id, renders.c.created_day >= since_day, renders.c.state.in_(CHARGED))
            .group_by(renders.c.user_id)
            .order_by(credits.desc(), renders.c.user_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(int(user), int(spent), int(count)) for user, spent, count in rows]

    async def usage_by_day(self, guild_id: int, since_day: str) -> list[tuple[str, int, int]]:
        """(day, credits, renders) per UTC day since `since_day` (inclusive), oldest first; idle days are absent."""
        query = (
            select(renders.c.created_day, func.sum(renders.c.cost), func.count())
            .where(renders.c.guild_id == guild_id, renders.c.created_day >= since_day, renders.c.state.in_(CHARGED))
            .group_by(renders.c.created_day)
            .order_by(renders.c.created_day)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(day), int(spent), int(count)) for day, spent, count in rows]

    async def guild_spend(self, guild_id: int, now: datetime) -> tuple[int, int]:
        """Credits the guild spent or holds (today, this month), UTC."""
        async with self._db.read() as conn:
            return await read_guild_spend(conn, guild_id, now)

    async def member_snapshot(self, guild_id: int, user_id: int, now: datetime) -> UsageSnapshot:
        """The numbers `reserve()` would decide on right now (for `/video quota`)."""
        async with self._db.read() as conn:
            return await read_usage(conn, guild_id, user_id, now)

    async def recent(
        self, guild_id: int, *, channel_id: int | None = None, user_id: int | None = None, limit: int = 10
    ) -> list[RenderRecord]:
        """The newest renders of a guild, optionally of one channel or member, newest first."""
        query = select(renders).where(renders.c.guild_id == guild_id)
        if channel_id is not None:
            query = query.where(renders.c.channel_id == channel_id)
        if user_id is not None:
            query = query.where(renders.c.user_id == user_id)
        query = query.order_by(renders.c.created_at.desc(), renders.c.group_id, renders.c.take_index).limit(limit)
        return await self._select(query)

    async def _select(self, query: Any) -> list[RenderRecord]:
        async with self._db.read() as conn:
            return [_record(row) for row in await conn.execute(query)]


def _new_rows(new: list[NewRender], decision: Decision, now: datetime, first_look_at: datetime) -> list[dict[str, Any]]:
    group_id = uuid.uuid4().hex
    state = RenderState.AWAITING_APPROVAL if decision.needs_approval else new[0].state
    return [
        {
            "id": uuid.uuid4().hex,
            "group_id": group_id,
            "take_index": index,
            "takes": len(new),
            "guild_id": take.guild_id,
            "channel_id": take.channel_id,
            "user_id": take.user_id,
            "request_json": json.dumps(take.request.to_dict(), ensure_ascii=False, separators=(",", ":")),
            "state": state.value,
            "cost": take.cost,
            "created_at": now,
            "updated_at": now,
            "created_day": day_key(now),
            "created_month": month_key(now),
            "progress": 0,
            "upload_limit": take.upload_limit,
            "next_poll_at": first_look_at,
            "poll_count": 0,
            "closed": False,
            "approval_reason": decision.approval_reason if decision.needs_approval else None,
        }
        for index, take in enumerate(new, start=1)
    ]


def _column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - _UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"cannot set render column(s) {sorted(unknown)}")
    return {key: value.value if isinstance(value, Enum) else value for key, value in fields.items()}
