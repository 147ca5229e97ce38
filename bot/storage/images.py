"""The input images, kept so a request can be (re)submitted after a restart, and for Regenerate and Remix.

An image is stored once however many renders use it (keyed by the sha256 of its bytes). Its `created_at` is when
a request last claimed it (stored it, or reused it for Regenerate): the retention purge never removes an image
claimed within its grace period, so a request between claiming its images and reserving its renders keeps them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from bot.storage.db import Database
from bot.storage.tables import images

# Keys per DELETE: far under every engine's bound-parameter limit, and a short write lock on SQLite.
PURGE_BATCH = 500


class ImageStore:
    """Image bytes keyed by their sha256 (the same image attached twice is stored once)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, sha256: str, data: bytes, mime: str, *, now: datetime | None = None) -> None:
        """Store the image, or mark the stored copy as claimed `now` (default: the current time)."""
        claimed = now or datetime.now(UTC)
        statement = self._db.insert(images).values(sha256=sha256, mime=mime, data=data, created_at=claimed)
        # Claiming it again moves the purge's grace on, so a purge running meanwhile leaves it alone.
        statement = statement.on_conflict_do_update(
            index_elements=[images.c.sha256], set_={"created_at": statement.excluded.created_at}
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

    async def claim(self, shas: Iterable[str], *, now: datetime) -> set[str]:
        """Mark the stored images among `shas` as claimed `now`; returns those that are not stored (any more)."""
        wanted = sorted(set(shas))
        if not wanted:
            return set()
        statement = update(images).where(images.c.sha256.in_(wanted)).values(created_at=now).returning(images.c.sha256)
        async with self._db.write() as conn:
            found = {row.sha256 for row in await conn.execute(statement)}
        return set(wanted) - found

    async def get(self, sha256: str) -> tuple[bytes, str] | None:
        """(bytes, mime) of the image, or None if it is not stored."""
        async with self._db.read() as conn:
            row = (await conn.execute(select(images.c.data, images.c.mime).where(images.c.sha256 == sha256))).first()
        return (bytes(row.data), row.mime) if row else None

    async def get_many(self, shas: Iterable[str]) -> dict[str, bytes]:
        """The bytes of every stored image among `shas`; missing ones are absent from the result."""
        wanted = sorted(set(shas))
        if not wanted:
            return {}
        async with self._db.read() as conn:
            rows = await conn.execute(select(images.c.sha256, images.c.data).where(images.c.sha256.in_(wanted)))
            return {row.sha256: bytes(row.data) for row in rows}

    async def delete_unused(self, in_use: Collection[str], *, claimed_before: datetime) -> int:
        """Delete every image not in `in_use` and last claimed before `claimed_before`; returns how many went.

        The claim time is checked again by each DELETE, so an image a request claims after the list was read stays.
        """
        async with self._db.read() as conn:
            old = (await conn.execute(select(images.c.sha256).where(images.c.created_at < claimed_before))).scalars()
            unused = sorted(sha for sha in old if sha not in in_use)
        deleted = 0
        for start in range(0, len(unused), PURGE_BATCH):
            batch = unused[start : start + PURGE_BATCH]
            statement = delete(images).where(images.c.sha256.in_(batch), images.c.created_at < claimed_before)
            async with self._db.write() as conn:
                deleted += (await conn.execute(statement)).rowcount or 0
        return deleted
