"""Renders: the reservation that admits them, their state moves, the tracker's leases and usage reports."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Row, bindparam, case, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.queue import ApiHold, Started, Turn, Waiting, fair_order, free_slots, hold_after_refusal, places
from bot.domain.quota_types import Decision, UsageSnapshot
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import (
    ACTIVE_STATES,
    AT_API_STATES,
    REFUNDED_STATES,
    TERMINAL_STATES,
    WAITING_STATES,
    FailureKind,
    RenderState,
    sources_of,
)
from bot.metrics import QUEUE_WAIT_SECONDS, REFUNDED_CREDITS, REFUNDS, RENDER_SECONDS
from bot.storage.db import Database
from bot.storage.queue_lock import lock_queue, read_hold, write_hold
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
    for flag in ("closed", "chat_gone", "requester_told"):
        values[flag] = bool(values[flag])
    return RenderRecord(**values)


class LeaseLost(Exception):
    """The writer no longer holds the render's lease (it expired and another process claimed it): stop the step."""


def _holding(owner: str | None, now: datetime) -> list[Any]:
    if owner is None:
        return []
    return [renders.c.lease_owner == owner, renders.c.lease_until >= now]


def _holds_lease(render: RenderRecord, owner: str, now: datetime) -> bool:
    return render.lease_owner == owner and render.lease_until is not None and render.lease_until >= now


def count_outcome(render: RenderRecord) -> None:
    """Metrics of a move that just landed: every refund and every final state passes here, whoever moved it."""
    if render.state in REFUNDED_STATES:
        REFUNDS.labels(reason=render.failure_kind.value if render.failure_kind else render.state.value).inc()
        REFUNDED_CREDITS.inc(render.cost)
    if render.state in TERMINAL_STATES:
        seconds = max(0.0, (render.updated_at - render.created_at).total_seconds())
        RENDER_SECONDS.labels(model=render.request.model, outcome=render.state.value).observe(seconds)


class RenderRepository:
    """All SQL about renders."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def database(self) -> Database:
        """Where the renders live (a request's shared messages, `bot.storage.groups`, live beside them)."""
        return self._db

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
        return await self.move_leased(render_id, to, now=now, owner=None, fields=fields)

    async def move_leased(
        self, render_id: str, to: RenderState, *, now: datetime, owner: str | None, fields: Mapping[str, Any]
    ) -> RenderRecord | None:
        """`move`, and with `owner` only while that owner holds the render's lease (else `LeaseLost`)."""
        sources = sorted(state.value for state in sources_of(to))
        values = {**_column_values(fields), "state": to.value, "updated_at": now}
        statement = (
            update(renders)
            .where(renders.c.id == render_id, renders.c.state.in_(sources), *_holding(owner, now))
            .values(values)
            .returning(*renders.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            await self._check_lease(render_id, owner, now)
            log.debug("render %s not moved to %s: not in %s", render_id, to.value, sources)
            return None
        record = _record(row)
        count_outcome(record)
        return record

    async def update(self, render_id: str, *, now: datetime, **fields: Any) -> None:
        """Set columns other than the state (progress, status_message_id, shown_hash, closed, next_poll_at...)."""
        await self.update_leased(render_id, now=now, owner=None, fields=fields)

    async def update_leased(
        self, render_id: str, *, now: datetime, owner: str | None, fields: Mapping[str, Any]
    ) -> None:
        """`update`, and with `owner` only while that owner holds the render's lease (else `LeaseLost`)."""
        values = {**_column_values(fields), "updated_at": now}
        statement = update(renders).where(renders.c.id == render_id, *_holding(owner, now)).values(values)
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        if not result.rowcount:
            await self._check_lease(render_id, owner, now)

    async def set_group_approval_message(self, group_id: str, message_id: int, *, now: datetime) -> None:
        """Record on every take of a request the message that asks moderators about it."""
        statement = (
            update(renders).where(renders.c.group_id == group_id).values(approval_message_id=message_id, updated_at=now)
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def open_ids(self, states: Collection[RenderState]) -> set[str]:
        """Ids of the renders not closed in `states` (which kept clips and journal entries still matter)."""
        query = select(renders.c.id).where(
            renders.c.closed == false(), renders.c.state.in_(sorted(state.value for state in states))
        )
        async with self._db.read() as conn:
            return {row[0] for row in await conn.execute(query)}

    async def _check_lease(self, render_id: str, owner: str | None, now: datetime) -> None:
        if owner is None:
            return
        current = await self.get(render_id)
        if current is not None and not _holds_lease(current, owner, now):
            raise LeaseLost(f"render {render_id}: lease held by another process since it expired for {owner}")

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

    async def count_by_state(self) -> dict[RenderState, int]:
        """Renders not closed, per state (for the metrics scrape); states with none are left out."""
        query = select(renders.c.state, func.count()).where(renders.c.closed == false()).group_by(renders.c.state)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {RenderState(state): int(count) for state, count in rows}

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

    async def refund_unsent(
        self, guild_id: int, kind: FailureKind, *, now: datetime, user_id: int | None = None
    ) -> list[RenderRecord]:
        """Fail, refunded, every render of a guild (or of one member there) not sent to the API yet: accepted or
        held for approval. Returns those it moved, due now with their lease dropped so the tracker shows them.

        One conditional statement: the tracker's move to SUBMITTING and this one can't both land on a render, and
        one already sent (it can't be cancelled) is left to finish.
        """
        unsent = sorted(state.value for state in (RenderState.ACCEPTED, RenderState.AWAITING_APPROVAL))
        wanted = [renders.c.guild_id == guild_id, renders.c.state.in_(unsent)]
        if user_id is not None:
            wanted.append(renders.c.user_id == user_id)
        statement = (
            update(renders)
            .where(*wanted)
            .values(
                state=RenderState.FAILED.value,
                failure_kind=kind.value,
                failure_detail=None,
                finished_at=now,
                updated_at=now,
                next_poll_at=now,
                lease_owner=None,
                lease_until=None,
            )
            .returning(*renders.c)
        )
        async with self._db.write() as conn:
            moved = [_record(row) for row in await conn.execute(statement)]
        for record in moved:
            count_outcome(record)
        return moved

    async def images_in_use(self, *, delivered_since: datetime) -> set[str]:
        """The sha256 of every stored image a render still needs: any render not finished, and those delivered
        since `delivered_since` (for Regenerate and Remix). Failed and denied renders need none."""
        unfinished = sorted(state.value for state in RenderState if state not in TERMINAL_STATES)
        recent = (renders.c.state == RenderState.DELIVERED.value) & (renders.c.updated_at >= delivered_since)
        # Text-only requests store an empty list: skipping them is only a shortcut, one it misses is read anyway.
        query = select(renders.c.request_json).where(
            or_(renders.c.state.in_(unfinished), recent), renders.c.request_json.not_like('%"images":[]%')
        )
        shas: set[str] = set()
        async with self._db.read() as conn:
            for raw in (await conn.execute(query)).scalars():
                shas.update(slot.sha256 for slot in VideoRequest.from_dict(json.loads(raw)).images)
        return shas

    async def recent_durations(self, limit: int = 500) -> list[tuple[str, str, int, float]]:
        """(model, quality, clip seconds, seconds from submit to finished at the API) of the renders the API
        finished most recently, newest first: what estimates are measured from."""
        finished = sorted(state.value for state in (RenderState.SUCCEEDED, RenderState.DELIVERED))
        query = (
            select(renders.c.request_json, renders.c.submitted_at, renders.c.finished_at)
            .where(
                renders.c.state.in_(finished), renders.c.submitted_at.is_not(None), renders.c.finished_at.is_not(None)
            )
            .order_by(renders.c.finished_at.desc(), renders.c.id)
            .limit(limit)
        )
        durations: list[tuple[str, str, int, float]] = []
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        for raw, submitted, ended in rows:
            try:
                request = VideoRequest.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue  # a row this version can't read measures nothing
            seconds = (ended - submitted).total_seconds()
            durations.append((request.model, request.mode.value, request.duration, seconds))
        return durations

    async def history(
        self,
        guild_id: int,
        *,
        user_id: int | None = None,
        channel_id: int | None = None,
        id_prefix: str | None = None,
        viewer_id: int | None = None,
        viewer_channels: Collection[int] | None = None,
        before: tuple[datetime, str] | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 11,
    ) -> list[RenderRecord]:
        """A guild's renders, newest first, keyset-paged on (created_at, id): those older than `before`, or the
        `limit` nearest newer than `after` (still returned newest first).

        `channel_id` matches renders asked for in that channel or whose thread it is; `id_prefix` (lowercase
        hex, checked by the caller) renders whose id starts with it. With `viewer_channels`, only renders in those
        channels or requested by `viewer_id` are returned, so a member never reads prompts of channels hidden
        from them.
        """
        wanted: list[Any] = [renders.c.guild_id == guild_id]
        if user_id is not None:
            wanted.append(renders.c.user_id == user_id)
        if channel_id is not None:
            wanted.append(or_(renders.c.channel_id == channel_id, renders.c.thread_id == channel_id))
        if id_prefix is not None:
            wanted.append(renders.c.id.startswith(id_prefix, autoescape=True))
        if viewer_channels is not None:
            wanted.append(or_(renders.c.channel_id.in_(sorted(viewer_channels)), renders.c.user_id == viewer_id))
        newest_first = [renders.c.created_at.desc(), renders.c.id.desc()]
        if after is not None:
            at, render_id = after
            wanted.append(or_(renders.c.created_at > at, (renders.c.created_at == at) & (renders.c.id > render_id)))
            nearest = select(renders).where(*wanted).order_by(renders.c.created_at, renders.c.id).limit(limit)
            return list(reversed(await self._select(nearest)))
        if before is not None:
            at, render_id = before
            wanted.append(or_(renders.c.created_at < at, (renders.c.created_at == at) & (renders.c.id < render_id)))
        return await self._select(select(renders).where(*wanted).order_by(*newest_first).limit(limit))

    # ---- the bot's own queue (MAX_RENDERS_AT_API; see bot.domain.queue) -------------------------------------

    async def queue_turn(self, render_id: str, *, now: datetime, cap: int | None) -> Turn:
        """A look, taking no lock and writing nothing: would `render_id` be let through to the API now?

        Decided again by `admit`; this only spares a render refused its turn the work of building its request.
        """
        async with self._db.read() as conn:
            return await _turn(conn, render_id, now=now, cap=cap, hold=await read_hold(conn))

    async def admit(
        self, render_id: str, *, now: datetime, cap: int | None, owner: str | None = None
    ) -> tuple[RenderRecord | None, Turn]:
        """Move an ACCEPTED render to SUBMITTING if a slot at the API is free and it is next in the fair order.

        One transaction under the queue lock (`lock_queue`), so processes sharing the database never let more
        than `cap` renders (or what a gateway hold allows) be at the API together: count the renders there, order
        those waiting, move this one only if it is within the free slots. Its `ready_at` is set the first time
        (the submit deadline counts from there) and its place cleared. Returns the moved render (None when it
        is not its turn, or it is no longer ACCEPTED) and the turn decided; with `owner`, only while that owner
        holds its lease (else `LeaseLost`).
        """
        async with self._db.write() as conn:
            hold = await lock_queue(self._db, conn)
            turn = await _turn(conn, render_id, now=now, cap=cap, hold=hold)
            row = None
            waiting = RenderState.ACCEPTED.value
            if turn.go:
                statement = (
                    update(renders)
                    .where(renders.c.id == render_id, renders.c.state == waiting, *_holding(owner, now))
                    .values(
                        state=RenderState.SUBMITTING.value,
                        updated_at=now,
                        ready_at=func.coalesce(renders.c.ready_at, now),
                        queue_place=None,
                    )
                    .returning(*renders.c)
                )
                row = (await conn.execute(statement)).first()
        if row is None:
            if turn.go:
                await self._check_lease(render_id, owner, now)
            return None, turn
        admitted = _record(row)
        waited = max(0.0, (now - admitted.created_at).total_seconds())
        QUEUE_WAIT_SECONDS.labels(model=admitted.request.model).observe(waited)
        return admitted, turn

    async def hold_api(
        self, render_id: str, *, now: datetime, backoff: float, fallback: float, retry_after: float | None
    ) -> ApiHold:
        """The gateway refused `render_id`'s create (429): hold every waiting render (see `hold_after_refusal`),
        counting the renders of ours it has besides this one. Kept in the database, so every process holds."""
        async with self._db.write() as conn:
            await lock_queue(self._db, conn)
            at_api = await conn.scalar(
                select(func.count()).select_from(renders).where(renders.c.state.in_(_AT_API), renders.c.id != render_id)
            )
            hold = hold_after_refusal(
                int(at_api or 0), now=now, backoff=backoff, fallback=fallback, retry_after=retry_after
            )
            await write_hold(conn, hold)
        log.warning(
            "gateway full with %d render(s) of ours: holding the queue until one finishes or %s",
            hold.at_api,
            hold.until.isoformat(timespec="seconds"),
        )
        return hold

    async def queue_pass(self, *, now: datetime, cap: int | None, write_places: bool) -> QueuePass:
        """The tracker's look at the whole queue: the renders whose turn it is are made due now (the tracker
        claims them at once; `admit` decides), and with `write_places` every waiting render's place in line is
        written where it changed. Returns the renders whose place changed (their cards show it).

        A look, like `queue_turn`: nothing here lets a render through, so it takes no lock; the writes are
        conditional on the render still waiting. A hold that ended is dropped once nobody waits.
        """
        async with self._db.read() as conn:
            hold = await read_hold(conn)
            looked_at = _WAITING.add_columns(renders.c.queue_place, renders.c.next_poll_at, renders.c.status_message_id)
            waiting = (await conn.execute(looked_at)).all()
            free = await _free(conn, cap, hold, now) if waiting else None
            order = await _fair_order(conn, waiting) if waiting and free is not None else []
        placed = places(order, free)
        known = {row.id: row for row in waiting}
        changed = [row.id for row in waiting if placed.get(row.id) != row.queue_place] if write_places else []
        # The first renders in line, due later (a back-off, a recheck): their turn is now. A render whose card is
        # not posted yet is left to accept() (its grace), which makes it due itself.
        due = [
            render_id
            for render_id in order[: free or 0]
            if known[render_id].status_message_id is not None and (known[render_id].next_poll_at or now) > now
        ]
        drop_hold = hold is not None and not waiting and now >= hold.until
        if not (changed or due or drop_hold):
            return QueuePass(waiting=sum(place is not None for place in placed.values()), due=0, moved=[])
        still = renders.c.state == RenderState.ACCEPTED.value
        async with self._db.write() as conn:
            if changed:
                await conn.execute(
                    update(renders)
                    .where(renders.c.id == bindparam("rid"), still)
                    .values(queue_place=bindparam("place")),
                    [{"rid": render_id, "place": placed.get(render_id)} for render_id in changed],
                )
            if due:
                later = renders.c.next_poll_at > now
                await conn.execute(update(renders).where(renders.c.id.in_(due), still, later).values(next_poll_at=now))
            if drop_hold:
                current = await lock_queue(self._db, conn)
                if current == hold:
                    await write_hold(conn, None)
        moved = await self._select(select(renders).where(renders.c.id.in_(changed), still)) if changed else []
        return QueuePass(waiting=sum(place is not None for place in placed.values()), due=len(due), moved=moved)

    async def cancel_waiting(self, render_id: str, *, guild_id: int, by: int, now: datetime) -> RenderRecord | None:
        """Fail, refunded, a render not sent to the API yet (waiting in the queue or for approval), as cancelled by
        `by`; None when it is not (any more) waiting, or not of `guild_id`.

        One conditional statement: the tracker's move to SUBMITTING and this one can't both land, so a render
        already being sent is never cancelled (there is no cancel at the API). Due now with its lease dropped, so
        the tracker shows it at once.
        """
        statement = (
            update(renders)
            .where(renders.c.id == render_id, renders.c.guild_id == guild_id, renders.c.state.in_(_WAITING_STATES))
            .values(
                state=RenderState.FAILED.value,
                failure_kind=FailureKind.CANCELLED.value,
                failure_detail=None,
                decided_by=by,
                finished_at=now,
                updated_at=now,
                next_poll_at=now,
                lease_owner=None,
                lease_until=None,
                queue_place=None,
            )
            .returning(*renders.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            return None
        record = _record(row)
        count_outcome(record)
        return record

    async def waiting_renders(self, guild_id: int, user_id: int) -> list[RenderRecord]:
        """A member's renders waiting to be sent to the API in a guild, first in line first (for `/video quota`)."""
        query = (
            select(renders)
            .where(
                renders.c.guild_id == guild_id,
                renders.c.user_id == user_id,
                renders.c.state == RenderState.ACCEPTED.value,
            )
            .order_by(
                renders.c.queue_place.is_(None), renders.c.queue_place, renders.c.created_at, renders.c.take_index
            )
        )
        return await self._select(query)


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
            "parent_id": take.parent_id,
            "chain_position": take.chain_position,
        }
        for index, take in enumerate(new, start=1)
    ]


_AT_API = sorted(state.value for state in AT_API_STATES)
_WAITING_STATES = sorted(state.value for state in WAITING_STATES)
# The renders in the bot's own queue: accepted, not sent (an approval hold is not a place in line).
_WAITING = select(
    renders.c.id, renders.c.guild_id, renders.c.user_id, renders.c.created_at, renders.c.take_index
).where(renders.c.state == RenderState.ACCEPTED.value)


@dataclass(frozen=True)
class QueuePass:
    waiting: int  # renders waiting for a slot (with a place in line)
    due: int  # renders whose turn came, made due now
    moved: list[RenderRecord]  # renders whose place changed, as written


async def _free(conn: AsyncConnection, cap: int | None, hold: ApiHold | None, now: datetime) -> int | None:
    if cap is None and hold is None:
        return None
    query = select(renders.c.state, func.count()).where(renders.c.state.in_(_AT_API)).group_by(renders.c.state)
    counts = {RenderState(state): int(count) for state, count in (await conn.execute(query)).all()}
    sending = counts.get(RenderState.SUBMITTING, 0)
    taken = counts.get(RenderState.QUEUED, 0) + counts.get(RenderState.RENDERING, 0)
    return free_slots(cap, hold, taken=taken, sending=sending, now=now)


async def _fair_order(conn: AsyncConnection, rows: Sequence[Any]) -> list[str]:
    """The waiting renders (`_WAITING` rows) in fair order, counting the renders started since the oldest arrived."""
    waiting = [Waiting(r.id, r.guild_id, r.user_id, r.created_at, r.take_index) for r in rows]
    oldest = min(render.created_at for render in waiting)
    started_query = select(renders.c.guild_id, renders.c.user_id, renders.c.ready_at).where(
        renders.c.ready_at >= oldest, renders.c.state.not_in(_WAITING_STATES)
    )
    started = [Started(g, u, at) for g, u, at in (await conn.execute(started_query)).all()]
    return fair_order(waiting, started)


async def _turn(conn: AsyncConnection, render_id: str, *, now: datetime, cap: int | None, hold: ApiHold | None) -> Turn:
    free = await _free(conn, cap, hold, now)
    if free is None:
        return Turn(go=True, free=None, hold=hold)
    if free <= 0:
        return Turn(go=False, free=0, hold=hold)
    order = await _fair_order(conn, (await conn.execute(_WAITING)).all())
    if render_id not in order:
        # Not waiting (any more): the conditional move finds that out.
        return Turn(go=True, free=free, hold=hold)
    return Turn(go=order.index(render_id) < free, free=free, hold=hold)


def _column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - _UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"cannot set render column(s) {sorted(unknown)}")
    return {key: value.value if isinstance(value, Enum) else value for key, value in fields.items()}


class LeasedRenders:
    """The renders as one lease holder changes them: the database refuses each write once the lease is lost.

    The tracker's steps write only through this, so a process that stalled past its lease (a long GC pause, a
    frozen VM) cannot undo what the process that took the render over has done since.
    """

    def __init__(self, repo: RenderRepository, owner: str) -> None:
        self._repo = repo
        self.owner = owner

    @property
    def database(self) -> Database:
        return self._repo.database

    async def move(self, render_id: str, to: RenderState, *, now: datetime, **fields: Any) -> RenderRecord | None:
        return await self._repo.move_leased(render_id, to, now=now, owner=self.owner, fields=fields)

    async def update(self, render_id: str, *, now: datetime, **fields: Any) -> None:
        await self._repo.update_leased(render_id, now=now, owner=self.owner, fields=fields)

    async def get(self, render_id: str) -> RenderRecord | None:
        return await self._repo.get(render_id)

    async def list_group(self, group_id: str) -> list[RenderRecord]:
        return await self._repo.list_group(group_id)

    async def set_group_approval_message(self, group_id: str, message_id: int, *, now: datetime) -> None:
        await self._repo.set_group_approval_message(group_id, message_id, now=now)

    async def set_first_status_message(self, render_id: str, message_id: int, *, now: datetime, **fields: Any) -> bool:
        return await self._repo.set_first_status_message(render_id, message_id, now=now, **fields)

    async def queue_turn(self, render_id: str, *, now: datetime, cap: int | None) -> Turn:
        return await self._repo.queue_turn(render_id, now=now, cap=cap)

    async def admit(self, render_id: str, *, now: datetime, cap: int | None) -> tuple[RenderRecord | None, Turn]:
        return await self._repo.admit(render_id, now=now, cap=cap, owner=self.owner)

    async def hold_api(
        self, render_id: str, *, now: datetime, backoff: float, fallback: float, retry_after: float | None
    ) -> ApiHold:
        return await self._repo.hold_api(
            render_id, now=now, backoff=backoff, fallback=fallback, retry_after=retry_after
        )
