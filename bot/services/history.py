"""Finding renders again: the pages of `/video history` and the lookup of `/video show`.

Only ever one server's renders, and of those only the ones the member may read: renders in channels they can see,
and their own. Pages are keyset-paged on (created_at, id), so a page stays correct however many renders arrive
meanwhile, and the cursor is a render id a button can carry across a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from bot.domain.render import RenderRecord
from bot.storage.renders import RenderRepository

PAGE_SIZE = 10
SHORT_ID = 8  # what a card shows ("Request abcd1234")
FULL_ID = 32
_ID_TEXT = re.compile(r"(?:request\s+)?#?\s*(?P<id>[0-9a-f]+)")


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their own renders, and those in `channels` (None: every channel, for administrators)."""

    user_id: int
    channels: frozenset[int] | None


@dataclass(frozen=True)
class HistoryFilter:
    """What `/video history` was asked for: a server, and optionally one member and one channel (or thread)."""

    guild_id: int
    member_id: int | None = None
    channel_id: int | None = None


class Direction(StrEnum):
    NEXT = "n"  # older renders
    PREVIOUS = "p"  # newer renders


@dataclass(frozen=True)
class HistoryPage:
    entries: tuple[RenderRecord, ...]  # newest first
    number: int  # 1 is the newest renders
    has_previous: bool
    has_next: bool


class LookupProblem(Enum):
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Lookup:
    render: RenderRecord | None = None
    problem: LookupProblem | None = None
    wanted: str | None = None  # the id read from what the member typed (hex only: safe to echo)


def parse_render_id(text: str) -> str | None:
    """The hex id (8 to 32 characters, lowercase) in what a member typed: "abcd1234", "Request ABCD1234", the
    whole render id; None when it is not one."""
    match = _ID_TEXT.fullmatch(text.strip().lower())
    if match is None or not SHORT_ID <= len(match["id"]) <= FULL_ID:
        return None
    return match["id"]


class HistoryService:
    def __init__(self, renders: RenderRepository, *, page_size: int = PAGE_SIZE) -> None:
        self._renders = renders
        self._page_size = page_size

    async def page(
        self,
        filters: HistoryFilter,
        viewer: Viewer,
        *,
        cursor: str | None = None,
        direction: Direction = Direction.NEXT,
        number: int = 1,
    ) -> HistoryPage:
        """The page after (NEXT) or before (PREVIOUS) the render `cursor`, which was the last or first entry of
        page `number` - 1 or + 1; the first page without a cursor, or when the cursor is no render of this server
        (a crafted button finds nothing elsewhere) or leads nowhere any more."""
        anchor = await self._renders.get(cursor) if cursor else None
        if anchor is None or anchor.guild_id != filters.guild_id:
            return await self._first(filters, viewer)
        key = (anchor.created_at, anchor.id)
        size = self._page_size
        if direction is Direction.NEXT:
            rows = await self._query(filters, viewer, before=key, limit=size + 1)
            if not rows:
                return await self._first(filters, viewer)
            return HistoryPage(tuple(rows[:size]), max(2, number), has_previous=True, has_next=len(rows) > size)
        rows = await self._query(filters, viewer, after=key, limit=size + 1)
        if len(rows) <= size:
            # Back at the newest renders: show the first page whole, as the command would now.
            return await self._first(filters, viewer)
        return HistoryPage(tuple(rows[-size:]), max(2, number), has_previous=True, has_next=True)

    async def find(self, guild_id: int, viewer: Viewer, text: str) -> Lookup:
        """The render of this server whose id is, or starts with, what the member typed."""
        prefix = parse_render_id(text)
        if prefix is None:
            return Lookup(problem=LookupProblem.MALFORMED)
        found = await self._renders.history(
            guild_id, id_prefix=prefix, viewer_id=viewer.user_id, viewer_channels=viewer.channels, limit=2
        )
        if not found:
            return Lookup(problem=LookupProblem.NOT_FOUND, wanted=prefix)
        if len(found) > 1:
            return Lookup(problem=LookupProblem.AMBIGUOUS, wanted=prefix)
        return Lookup(render=found[0], wanted=prefix)

    async def _first(self, filters: HistoryFilter, viewer: Viewer) -> HistoryPage:
        rows = await self._query(filters, viewer, limit=self._page_size + 1)
        return HistoryPage(tuple(rows[: self._page_size]), 1, has_previous=False, has_next=len(rows) > self._page_size)

    async def _query(
        self,
        filters: HistoryFilter,
        viewer: Viewer,
        *,
        limit: int,
        before: tuple[datetime, str] | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[RenderRecord]:
        return await self._renders.history(
            filters.guild_id,
            user_id=filters.member_id,
            channel_id=filters.channel_id,
            viewer_id=viewer.user_id,
            viewer_channels=viewer.channels,
            before=before,
            after=after,
            limit=limit,
        )
