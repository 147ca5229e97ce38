"""A StatusPublisher that records what the services asked the chat side to show, and fails when told to.

Every call is kept in order as an `Event` (so tests can count edits or see which render was shown in which
state), message ids are handed out from a counter, and any method can be made to raise a `PublishError`
(`MessageGone`, `ChannelGone`, `UploadTooLarge`, `PublishUnavailable`) for its next calls with `fail_next`, or
for good with `gone_channels`. `refresh_attachment_urls` answers from `refreshed_urls` (original -> fresh;
URLs it does not know come back unchanged, as Discord answers for URLs that need no refresh) and leaves out the
URLs in `lost_urls`, as Discord does for attachments it no longer has.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.domain.render import RenderRecord
from bot.services.ports import ChannelGone, PublishError

METHODS = (
    "post_status",
    "edit_status",
    "find_delivery",
    "deliver_file",
    "deliver_fitted",
    "deliver_link",
    "notify_requester",
    "notify_waiting",
    "post_approval_request",
    "close_approval_request",
    "post_spend_alert",
    "delete_message",
    "open_thread",
    "refresh_attachment_urls",
    "refresh_result",
)
# Calls that talk to a render's channel, and so fail once that channel is gone.
_IN_CHANNEL = frozenset(
    {"post_status", "edit_status", "find_delivery", "deliver_file", "deliver_fitted", "deliver_link", "refresh_result"}
)


@dataclass(frozen=True)
class Event:
    """One call the publisher received (including calls it then failed)."""

    method: str
    render: RenderRecord | None
    details: dict[str, Any] = field(default_factory=dict)
    failed: bool = False

    @property
    def message_id(self) -> int | None:
        """The id handed back for a message this call posted."""
        value = self.details.get("message_id")
        return int(value) if value is not None else None

    def with_id(self, message_id: int) -> int:
        self.details["message_id"] = message_id
        return message_id


class RecordingPublisher:
    """A fake StatusPublisher for service tests."""

    def __init__(self, *, first_message_id: int = 900_000) -> None:
        self.events: list[Event] = []
        # Render id -> id of a clip already in the channel, as if posted before a crash.
        self.existing_deliveries: dict[str, int] = {}
        # Channels that no longer exist: every call about them raises ChannelGone.
        self.gone_channels: set[int] = set()
        # Attachment URL -> the fresh URL Discord's refresh-urls hands back for it.
        self.refreshed_urls: dict[str, str] = {}
        # Attachment URLs Discord no longer has (the message was deleted): refresh-urls leaves them out.
        self.lost_urls: set[str] = set()
        self._next_id = first_message_id
        self._failures: dict[str, deque[PublishError]] = {name: deque() for name in METHODS}

    # ---- steering ------------------------------------------------------------------------------------

    def fail_next(self, method: str, error: PublishError, *, times: int = 1) -> None:
        """The next `times` calls of `method` raise `error` (and are recorded as failed)."""
        if method not in METHODS:
            raise ValueError(f"unknown publisher method {method!r}")
        self._failures[method].extend([error] * times)

    # ---- reading -------------------------------------------------------------------------------------

    def calls(self, method: str, *, render_id: str | None = None, succeeded_only: bool = True) -> list[Event]:
        return [
            e
            for e in self.events
            if e.method == method
            and (render_id is None or (e.render is not None and e.render.id == render_id))
            and not (succeeded_only and e.failed)
        ]

    @property
    def posts(self) -> list[Event]:
        return self.calls("post_status")

    @property
    def edits(self) -> list[Event]:
        return self.calls("edit_status")

    @property
    def deliveries(self) -> list[Event]:
        """Clips posted in the channel, as files or as links, in order."""
        return [
            e for e in self.events if e.method in ("deliver_file", "deliver_fitted", "deliver_link") and not e.failed
        ]

    @property
    def dms(self) -> list[Event]:
        return self.calls("notify_requester")

    # ---- StatusPublisher -----------------------------------------------------------------------------

    async def post_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> int:
        return self._record("post_status", render, group=_ids(group)).with_id(self._new_id())

    async def open_thread(self, render: RenderRecord) -> int:
        return self._record("open_thread", render).with_id(self._new_id())

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        self._record("delete_message", None, channel_id=channel_id, message_id=message_id)

    async def edit_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> None:
        self._record("edit_status", render, message_id=render.status_message_id, group=_ids(group))

    async def find_delivery(self, render: RenderRecord) -> int | None:
        self._record("find_delivery", render)
        return self.existing_deliveries.get(render.id)

    async def deliver_file(
        self,
        render: RenderRecord,
        path: Path,
        filename: str,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        # Measured now: the tracker deletes the file once the call returns.
        size = (await asyncio.to_thread(path.stat)).st_size
        event = self._record("deliver_file", render, filename=filename, size=size, group=_ids(group), into=into)
        return event.with_id(into if into is not None else self._new_id())

    async def deliver_fitted(
        self,
        render: RenderRecord,
        path: Path,
        filename: str,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        # The file too: the tracker deletes it once the call returns, and a test wants to play it.
        data = await asyncio.to_thread(path.read_bytes)
        event = self._record(
            "deliver_fitted", render, filename=filename, size=len(data), data=data, group=_ids(group), into=into
        )
        return event.with_id(into if into is not None else self._new_id())

    async def deliver_link(
        self,
        render: RenderRecord,
        url: str | None,
        size: int | None,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        event = self._record("deliver_link", render, url=url, size=size, group=_ids(group), into=into)
        return event.with_id(into if into is not None else self._new_id())

    async def refresh_result(
        self, group: Sequence[RenderRecord], message_id: int, *, removed: Collection[str] = ()
    ) -> None:
        self._record("refresh_result", group[0], group=_ids(group), message_id=message_id, removed=sorted(removed))

    async def notify_requester(self, render: RenderRecord, *, url: str | None) -> bool:
        # As the Discord publisher: a DM that can't be sent is a False, never an error.
        try:
            self._record("notify_requester", render, url=url)
        except PublishError:
            return False
        return True

    async def notify_waiting(self, render: RenderRecord, *, until: datetime) -> bool:
        try:
            self._record("notify_waiting", render, until=until)
        except PublishError:
            return False
        return True

    async def post_approval_request(self, renders: Sequence[RenderRecord], channel_id: int) -> int:
        event = self._record(
            "post_approval_request", renders[0], render_ids=[r.id for r in renders], channel_id=channel_id
        )
        return event.with_id(self._new_id())

    async def close_approval_request(self, render: RenderRecord, channel_id: int, message_id: int) -> None:
        self._record("close_approval_request", render, channel_id=channel_id, message_id=message_id)

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        self._record("refresh_attachment_urls", None, urls=list(urls))
        return {url: self.refreshed_urls.get(url, url) for url in urls if url not in self.lost_urls}

    async def post_spend_alert(
        self, channel_id: int, *, guild_id: int, period: str, percent: int, spent: int, budget: int
    ) -> None:
        self._record(
            "post_spend_alert",
            None,
            channel_id=channel_id,
            guild_id=guild_id,
            period=period,
            percent=percent,
            spent=spent,
            budget=budget,
        )

    # ---- helpers -------------------------------------------------------------------------------------

    def _record(self, method: str, render: RenderRecord | None, **details: Any) -> Event:
        error: PublishError | None = None
        if self._failures[method]:
            error = self._failures[method].popleft()
        elif method in _IN_CHANNEL and render is not None and render.channel_id in self.gone_channels:
            error = ChannelGone(str(render.channel_id))
        event = Event(method, render, details, failed=error is not None)
        self.events.append(event)
        if error is not None:
            raise error
        return event

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _ids(group: Sequence[RenderRecord]) -> list[str]:
    """The renders a card or result message was shown with (for asserting what a call showed)."""
    return [render.id for render in group]
