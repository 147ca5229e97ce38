"""What the services need from the chat side, without knowing it is Discord.

The Discord implementation lives in `bot.discord_app.publisher`; tests of the services use a recording fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.domain.render import RenderRecord


class PublishError(Exception):
    """Base of the failures the services react to; anything else is a bug."""


class MessageGone(PublishError):
    """The message to edit no longer exists (someone deleted it)."""


class ChannelGone(PublishError):
    """The channel no longer exists or the bot may no longer post in it."""


class UploadTooLarge(PublishError):
    """The chat service refused the file as too large (HTTP 413)."""


class PublishUnavailable(PublishError):
    """A passing failure (5xx, network): try again later."""


class StatusPublisher(Protocol):
    async def post_status(self, render: RenderRecord) -> int:
        """Post the status message for `render` in its channel; returns its message id."""

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """Remove a message the bot posted (a status message that lost the race to be the first)."""

    async def edit_status(self, render: RenderRecord) -> None:
        """Show the current state of `render` in its existing status message."""

    async def open_thread(self, render: RenderRecord) -> int:
        """Start a discussion thread on the status message of `render`; returns the thread id."""

    async def find_delivery(self, render: RenderRecord) -> int | None:
        """The id of a clip message already posted for `render` (a reply to its status message), if any."""

    async def deliver_file(self, render: RenderRecord, path: Path, filename: str) -> int:
        """Post the clip as a file, replying to the status message and mentioning the requester."""

    async def deliver_link(self, render: RenderRecord, url: str | None, size: int | None) -> int:
        """Post the clip as a link (too large to upload), or say no link exists when `url` is None."""

    async def notify_requester(self, render: RenderRecord, *, url: str | None) -> None:
        """Tell the requester by DM what became of `render`, because its channel is gone."""

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
