"""What the takes of one request share in the chat: one status card and one result message, each edited by one
writer at a time.

A group is the renders reserved together: the takes of a request, or the models of a compare. Its card's id is kept
in every take's `status_message_id` and written for all of them at once, only when none has one yet (the first
post wins, a slower one is deleted). Its result message's id is kept in `render_groups`, written the same way.
Discord keeps no version of a message: two processes editing the card (or adding clips to the result message) at
once would each send what they read, and the later would drop the other's change. Whoever edits one of them first
takes a short lease on it here; a lease left by a process that died runs out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, exists, or_, select, update
from sqlalchemy.orm import aliased

from bot.storage.db import Database
from bot.storage.tables import render_groups, renders

Lease = Literal["card", "gallery"]
_LEASES = {
    "card": (render_groups.c.card_owner, render_groups.c.card_until),
    "gallery": (render_groups.c.gallery_owner, render_groups.c.gallery_until),
}


@dataclass(frozen=True)
class GroupRecord:
    group_id: str
    gallery_message_id: int | None = None
    gallery_shown: str | None = None  # fingerprint of the outcomes the result message shows (see ui.gallery)
    removed: frozenset[str] = frozenset()  # renders a member deleted from the result message


class GroupRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, group_id: str) -> GroupRecord:
        """The group's shared messages; a group nothing was shown for yet has none."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(render_groups).where(render_groups.c.group_id == group_id))).first()
        if row is None:
            return GroupRecord(group_id)
        return GroupRecord(
            group_id,
            gallery_message_id=row.gallery_message_id,
            gallery_shown=row.gallery_shown,
            removed=frozenset(json.loads(row.removed or "[]")),
        )

    async def take(self, group_id: str, lease: Lease, owner: str, *, now: datetime, until: datetime) -> bool:
        """Hold the group's card or result message for editing until `until`; False while someone else holds it."""
        owner_column, until_column = _LEASES[lease]
        statement = (
            update(render_groups)
            .where(
                render_groups.c.group_id == group_id,
                or_(owner_column.is_(None), owner_column == owner, until_column < now),
            )
            .values({owner_column.key: owner, until_column.key: until, "updated_at": now})
        )
        async with self._db.write() as conn:
            await self._ensure(conn, group_id, now)
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def release(self, group_id: str, lease: Lease, owner: str, *, now: datetime) -> None:
        owner_column, until_column = _LEASES[lease]
        statement = (
            update(render_groups)
            .where(render_groups.c.group_id == group_id, owner_column == owner)
            .values({owner_column.key: None, until_column.key: None, "updated_at": now})
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def set_first_gallery(self, group_id: str, message_id: int, *, now: datetime, shown: str) -> bool:
        """Record the group's result message unless one already is (then False: post into that one instead)."""
        statement = (
            update(render_groups)
            .where(render_groups.c.group_id == group_id, render_groups.c.gallery_message_id.is_(None))
            .values(gallery_message_id=message_id, gallery_shown=shown, updated_at=now)
        )
        async with self._db.write() as conn:
            await self._ensure(conn, group_id, now)
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def replace_gallery(self, group_id: str, old: int, new: int | None, *, now: datetime, shown: str) -> bool:
        """The result message `old` is gone: `new` (or none) takes its place, unless someone replaced it first."""
        statement = (
            update(render_groups)
            .where(render_groups.c.group_id == group_id, render_groups.c.gallery_message_id == old)
            .values(gallery_message_id=new, gallery_shown=shown if new is not None else None, updated_at=now)
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def set_gallery_shown(self, group_id: str, shown: str, *, now: datetime) -> None:
        statement = (
            update(render_groups)
            .where(render_groups.c.group_id == group_id)
            .values(gallery_shown=shown, updated_at=now)
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def remove(self, group_id: str, render_id: str, *, now: datetime) -> None:
        """Note that a member deleted `render_id`'s clip from the result message (it is not shown again)."""
        async with self._db.write() as conn:
            await self._ensure(conn, group_id, now)
            row = (
                await conn.execute(select(render_groups.c.removed).where(render_groups.c.group_id == group_id))
            ).first()
            removed = set(json.loads(row.removed or "[]")) if row is not None else set()
            removed.add(render_id)
            await conn.execute(
                update(render_groups)
                .where(render_groups.c.group_id == group_id)
                .values(removed=json.dumps(sorted(removed)), updated_at=now)
            )

    # ---- the card: its id lives in every take's row ------------------------------------------------------------

    async def set_first_card(
        self,
        group_id: str,
        message_id: int,
        *,
        now: datetime,
        shown: Mapping[str, str],
        next_poll_at: datetime | None = None,
    ) -> bool:
        """Record the group's status card for every take, unless one of them has a card already (then False:
        one card per group, the later one must go). `shown`: what the card shows of each take (render id ->
        fingerprint); `next_poll_at`: when the tracker may first look at the takes."""
        other = aliased(renders)
        has_card = exists().where(other.c.group_id == group_id, other.c.status_message_id.is_not(None))
        values: dict[str, Any] = {"status_message_id": message_id, "updated_at": now}
        if next_poll_at is not None:
            values["next_poll_at"] = next_poll_at
        statement = (
            update(renders)
            # Checked row by row too: a concurrent writer's card, committed meanwhile, makes this one lose.
            .where(renders.c.group_id == group_id, renders.c.status_message_id.is_(None), ~has_card)
            .values(values)
        )
        async with self._db.write() as conn:
            result = await conn.execute(statement)
            if result.rowcount:
                await self._write_shown(conn, shown, now)
        return bool(result.rowcount)

    async def move_card(self, group_id: str, message_id: int, *, now: datetime, shown: Mapping[str, str]) -> None:
        """The card was posted again (the old one is gone or can't be edited): every take points to the new one."""
        async with self._db.write() as conn:
            await conn.execute(
                update(renders)
                .where(renders.c.group_id == group_id)
                .values(status_message_id=message_id, updated_at=now)
            )
            await self._write_shown(conn, shown, now)

    async def set_card_shown(self, shown: Mapping[str, str], *, now: datetime) -> None:
        """What the card now shows of each take (render id -> fingerprint)."""
        async with self._db.write() as conn:
            await self._write_shown(conn, shown, now)

    async def set_thread(self, group_id: str, thread_id: int, *, now: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(renders).where(renders.c.group_id == group_id).values(thread_id=thread_id, updated_at=now)
            )

    @staticmethod
    async def _write_shown(conn: Any, shown: Mapping[str, str], now: datetime) -> None:
        if not shown:
            return
        statement = (
            update(renders)
            .where(renders.c.id == bindparam("render_id"))
            .values(shown_hash=bindparam("hash"), updated_at=now)
        )
        await conn.execute(statement, [{"render_id": key, "hash": value} for key, value in shown.items()])

    async def _ensure(self, conn: Any, group_id: str, now: datetime) -> None:
        statement = (
            self._db.insert(render_groups)
            .values(group_id=group_id, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=[render_groups.c.group_id])
        )
        await conn.execute(statement)
