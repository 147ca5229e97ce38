"""The downloaded input images, kept so a request can be (re)submitted after a restart."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select

from bot.storage.db import Database
from bot.storage.tables import images


class ImageStore:
    """Image bytes keyed by their sha256 (the same image attached twice is stored once)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, sha256: str, data: bytes, mime: str) -> None:
        """Store the image unless it is already there."""
        statement = (
            self._db.insert(images)
            .values(sha256=sha256, mime=mime, data=data, created_at=datetime.now(UTC))
            .on_conflict_do_nothing()
        )
        async with self._db.write() as conn:
            await conn.execute(statement)

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
