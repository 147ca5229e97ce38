"""What the services need from the chat side, without knowing it is Discord.

The Discord implementation lives in `bot.discord_app.publisher`; tests of the services use a recording fake.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bot.domain.render import RenderRecord


class PublishError(Exception):
    """Base of the failures the services react to; anything else is a bug.

    Four kinds, each handled its own way: passing (`PublishUnavailable`: back off and retry), waiting for a person
    (`PermissionMissing`: a moderator can give the permission back), refused for good as sent (`MessageRefused`:
    try the next fallback) and gone (`MessageGone`, `ChannelGone`).
    """


class MessageGone(PublishError):
    """The message to edit no longer exists (someone deleted it)."""


class ChannelGone(PublishError):
    """The channel (or thread) no longer exists."""


class PermissionMissing(PublishError):
    """Discord refused for want of a permission or of access (403): a moderator may give it back."""

    def __init__(self, message: str, *, reason: str = "permission") -> None:
        super().__init__(message)
        self.reason = reason


class MessageRefused(PublishError):
    """This message will never be accepted as sent (form error, AutoMod, archived or locked thread): only a
    different message (shorter, a link, elsewhere) can get through."""


class UploadTooLarge(MessageRefused):
    """The chat service refused the file as too large (HTTP 413)."""


class PublishUnavailable(PublishError):
    """A passing failure (5xx, 429 given up, network): try again later."""


class StatusPublisher(Protocol):
    async def post_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> int:
        """Post the status card of `render`'s request in its channel; returns its message id. `group`: every render
        of the request (its takes, or the models of a compare) as the card shows them; empty: `render` alone."""

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """Remove a message the bot posted (a status message that lost the race to be the first)."""

    async def edit_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> None:
        """Show the current state of `render`'s request (`group`, as for `post_status`) on its existing card."""

    async def open_thread(self, render: RenderRecord) -> int:
        """Start a discussion thread on the status message of `render`; returns the thread id."""

    async def find_delivery(self, render: RenderRecord) -> int | None:
        """The id of a message already holding `render`'s clip (its request's result message: a reply to the card),
        if an earlier post got that far."""

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
        """Put the clip, as a file, in its request's result message: a new one replying to the card and mentioning
        the requester (`into` None), or message `into` edited to hold it too. `group`: every render of the
        request as the message shows them (this one delivered); `removed`: renders deleted from it. Returns the
        message id."""

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
        """As `deliver_file`, for the clip re-encoded to fit the upload limit: the original's link beside it."""

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
        """As `deliver_file`, with the clip's link (too large to upload), or saying no link exists (`url` None)."""

    async def refresh_result(
        self, group: Sequence[RenderRecord], message_id: int, *, removed: Collection[str] = ()
    ) -> None:
        """Show every render of a request as it is on its result message (a take failed, or was deleted: its
        file is dropped); the other clips stay."""

    async def notify_requester(self, render: RenderRecord, *, url: str | None) -> bool:
        """Tell the requester by DM what became of `render` (its channel is gone or refuses the clip); False
        when the DM could not be sent."""

    async def notify_waiting(self, render: RenderRecord, *, until: datetime) -> bool:
        """Tell the requester by DM that the clip is ready but waits for a permission in its channel."""

    async def post_approval_request(self, renders: Sequence[RenderRecord], channel_id: int) -> int:
        """Ask moderators in `channel_id` to approve or deny a held request; returns the message id."""

    async def close_approval_request(self, render: RenderRecord, channel_id: int, message_id: int) -> None:
        """Show the moderators' decision on the approval message and remove its buttons."""

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        """Fresh signed URLs for attachment URLs that expired or are about to (original -> refreshed)."""

    async def post_spend_alert(
        self, channel_id: int, *, guild_id: int, period: str, percent: int, spent: int, budget: int
    ) -> None:
        """Tell moderators the server crossed `percent` % of its `period` budget."""
