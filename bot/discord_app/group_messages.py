"""A request's card and result message, sent and edited with discord.py (the publisher translates the errors).

The card carries the first frame (image mode) as a small PNG of one fixed name, so an edit can point to it
without uploading it again; a card posted without it (the image was gone, or the card is from before cards were
V2) is edited without it after Discord refuses the reference. The result message keeps every clip it holds across
edits: an edit lists the files to keep (all but a deleted member's) and adds the new one; which member a file
belongs to is in its name (the render id's first 8 characters, see `clip_filename`), and so is whether it is a
copy re-encoded to fit the upload limit (`FITTED_SUFFIX`).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import discord

from bot.discord_app.ui.card import CardStyle, approval_card, first_frame, status_card
from bot.discord_app.ui.gallery import result_message
from bot.domain.estimates import Estimate
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.thumbnail import THUMBNAIL_NAME, thumbnail_png
from bot.storage.images import ImageStore

log = logging.getLogger(__name__)

FITTED_SUFFIX = "-fitted"
BAD_REQUEST = 400


def fitted_name(filename: str) -> str:
    """The name of a clip re-encoded to fit: the result message says so, and shows the original's link beside."""
    stem, dot, extension = filename.rpartition(".")
    return f"{stem}{FITTED_SUFFIX}.{extension}" if dot else filename + FITTED_SUFFIX


def owner_of(filename: str, members: Sequence[RenderRecord]) -> RenderRecord | None:
    """The member whose clip a file of the result message is."""
    return next((member for member in members if member.id[:8] in filename), None)


class GroupMessages:
    def __init__(
        self,
        *,
        render_timeout: float,
        models: ModelTable,
        images: ImageStore | None = None,
        estimate: Callable[[VideoRequest], Estimate | None] | None = None,
        slots: int | None = None,
    ) -> None:
        self._render_timeout = render_timeout
        self._models = models
        self._images = images
        self._estimate = estimate
        self._slots = slots

    def style(self, *, thumbnail: bool = False) -> CardStyle:
        return CardStyle(
            self._render_timeout, self._models, THUMBNAIL_NAME if thumbnail else None, self._estimate, self._slots
        )

    async def thumbnail(self, members: Sequence[RenderRecord]) -> discord.File | None:
        """The first frame as the card's small PNG, when the request is in image mode and its image is kept."""
        sha = first_frame(members[0].request)
        if sha is None or self._images is None:
            return None
        stored = await self._images.get(sha)
        if stored is None:
            return None
        try:
            data = await asyncio.to_thread(thumbnail_png, stored[0])
        except (OSError, ValueError) as error:
            log.warning("group %s: no thumbnail of the first frame (%s)", members[0].group_id, error)
            return None
        return discord.File(io.BytesIO(data), filename=THUMBNAIL_NAME)

    async def post_card(
        self, channel: discord.abc.Messageable, members: Sequence[RenderRecord], **extra: Any
    ) -> discord.Message:
        image = await self.thumbnail(members)
        files = [image] if image is not None else []
        view = status_card(members, self.style(thumbnail=image is not None))
        return await channel.send(view=view, files=files, **extra)

    async def edit_card(self, message: discord.PartialMessage, members: Sequence[RenderRecord], **extra: Any) -> None:
        # content and embeds cleared: a card posted as an embed (before cards were V2) becomes a V2 card.
        with_image = first_frame(members[0].request) is not None
        try:
            await message.edit(
                content=None, embed=None, view=status_card(members, self.style(thumbnail=with_image)), **extra
            )
        except discord.HTTPException as error:
            if not with_image or error.status != BAD_REQUEST:
                raise
            # The card has no first frame to point to (it was posted without it): shown without the thumbnail.
            await message.edit(content=None, embed=None, view=status_card(members, self.style()), **extra)

    async def post_approval(
        self, channel: discord.abc.Messageable, members: Sequence[RenderRecord], **extra: Any
    ) -> discord.Message:
        image = await self.thumbnail(members)
        files = [image] if image is not None else []
        return await channel.send(
            view=approval_card(members, self.style(thumbnail=image is not None)), files=files, **extra
        )

    async def post_result(
        self,
        channel: discord.abc.Messageable,
        render: RenderRecord,
        members: Sequence[RenderRecord],
        clip: tuple[Path, str] | None,
        *,
        removed: Collection[str],
        **extra: Any,
    ) -> discord.Message:
        """The group's result message, first posted with `render`'s clip (a file, or None: its link)."""
        files = {render.id: clip[1]} if clip is not None else {}
        view = self._result_view(members, files, removed)
        uploads = [discord.File(clip[0], filename=clip[1])] if clip is not None else []
        return await channel.send(view=view, files=uploads, **extra)

    async def add_to_result(
        self,
        message: discord.Message,
        render: RenderRecord,
        members: Sequence[RenderRecord],
        clip: tuple[Path, str] | None,
        *,
        removed: Collection[str],
    ) -> None:
        """Edit the result message to show `render`'s clip too, keeping the clips it holds."""
        kept = self._kept(message, members, removed, replacing=render.id if clip is not None else None)
        files = {owner.id: attachment.filename for attachment, owner in kept}
        uploads: list[discord.Attachment | discord.File] = [attachment for attachment, _ in kept]
        if clip is not None:
            files[render.id] = clip[1]
            uploads.append(discord.File(clip[0], filename=clip[1]))
        await message.edit(attachments=uploads, view=self._result_view(members, files, removed))

    async def refresh_result(
        self, message: discord.Message, members: Sequence[RenderRecord], *, removed: Collection[str]
    ) -> None:
        """Show every member as it is now; the clips stay, but a deleted member's."""
        kept = self._kept(message, members, removed)
        files = {owner.id: attachment.filename for attachment, owner in kept}
        await message.edit(
            attachments=[attachment for attachment, _ in kept], view=self._result_view(members, files, removed)
        )

    def _result_view(
        self, members: Sequence[RenderRecord], files: dict[str, str], removed: Collection[str]
    ) -> discord.ui.LayoutView:
        fitted = {render_id for render_id, name in files.items() if FITTED_SUFFIX in name}
        return result_message(members, self.style(), files=files, fitted=fitted, removed=removed)

    @staticmethod
    def _kept(
        message: discord.Message,
        members: Sequence[RenderRecord],
        removed: Collection[str],
        *,
        replacing: str | None = None,
    ) -> list[tuple[discord.Attachment, RenderRecord]]:
        """The clips the message keeps, with their members: not a deleted member's, nor (after an edit that may
        have landed before) the clip being added again."""
        kept = []
        for attachment in message.attachments:
            owner = owner_of(attachment.filename, members)
            if owner is not None and owner.id not in removed and owner.id != replacing:
                kept.append((attachment, owner))
        return kept
