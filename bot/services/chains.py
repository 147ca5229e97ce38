"""Continue and Stitch: getting the clips a render delivered back onto disk, their last frame, and the chain joined.

The delivered file is the one members saw: the clip attached to the render's result message (a re-encoded copy
when the original did not fit). When that message has no clip any more (it was linked, or deleted), the kept
download of the clip is used if the tracker still has it, else the clip is fetched again from its result URL.
Every download is untrusted and capped like the tracker's; the video work runs in the bounded `VideoWorker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.chain import MAX_CHAIN_CLIPS, chain_order
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.media import VideoWorker
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.errors import VideoApiError

log = logging.getLogger(__name__)


class ChainChat(Protocol):
    """What Continue and Stitch need from the chat side."""

    async def result_clip_url(self, render: RenderRecord) -> str | None:
        """A URL of the video attached to the render's result message, or None when it has none (any more)."""

    async def post_stitched(
        self, channel_id: int, reply_to: int | None, path: Path, filename: str, content: str
    ) -> int:
        """Post a stitched chain in `channel_id` (replying to `reply_to`); returns the message id."""


class ChainError(Exception):
    """Base of what Continue and Stitch refuse with; the chat side says each in its own words."""


class NotDelivered(ChainError):
    """The render has no delivered clip (it is still rendering, failed, or was cancelled)."""


class ClipUnavailable(ChainError):
    """The clip can't be had any more: its message lost the file and its result URL no longer serves it."""

    def __init__(self, render: RenderRecord) -> None:
        super().__init__(f"no source of render {render.id}'s clip answered")
        self.render = render


class BrokenChain(ChainError):
    """A clip of the chain is gone from the database, or the chain is longer than Stitch joins."""


class StitchBusy(ChainError):
    """A stitch of this clip's chain is already under way (a second press)."""


@dataclass(frozen=True)
class Stitched:
    message_id: int
    clips: list[RenderRecord]  # in order, first clip first

    @property
    def seconds(self) -> int:
        return chain_seconds(self.clips)


def chain_seconds(clips: Sequence[RenderRecord]) -> int:
    return sum(clip.request.duration for clip in clips)


class ChainService:
    def __init__(
        self,
        *,
        renders: RenderRepository,
        api: VideoApiClient,
        chat: ChainChat,
        media: VideoWorker,
        work_dir: Path,
        kept_clips: Path,
        max_clip_bytes: int,
    ) -> None:
        self._renders = renders
        self._api = api
        self._chat = chat
        self._media = media
        self._work_dir = work_dir
        self._kept_clips = kept_clips
        self._max_clip_bytes = max_clip_bytes
        self._stitching: set[str] = set()

    def clean(self) -> None:
        """At start-up: downloads left by a process that stopped mid-way belong to nobody."""
        shutil.rmtree(self._work_dir, ignore_errors=True)

    async def last_frame(self, render: RenderRecord) -> bytes:
        """The delivered clip's last frame, as PNG bytes. Raises ChainError or a `bot.media` error."""
        async with self._fetched(render) as path:
            return await self._media.last_frame(path)

    async def chain(self, render: RenderRecord) -> list[RenderRecord]:
        """The chain ending at `render`, first clip first."""
        ancestors: list[RenderRecord] = []
        parent_id = render.parent_id
        while parent_id is not None:
            if len(ancestors) + 1 >= MAX_CHAIN_CLIPS:
                raise BrokenChain(f"a chain of more than {MAX_CHAIN_CLIPS} clips")
            parent = await self._renders.get(parent_id)
            if parent is None:
                raise BrokenChain(f"render {parent_id} is gone")
            ancestors.append(parent)
            parent_id = parent.parent_id
        try:
            return chain_order(render, ancestors)
        except ValueError as error:
            raise BrokenChain(str(error)) from error

    async def stitch(
        self,
        render: RenderRecord,
        *,
        channel_id: int,
        reply_to: int | None,
        max_bytes: int,
        content: Callable[[Sequence[RenderRecord]], str],
    ) -> Stitched:
        """Join the chain ending at `render` into one file under `max_bytes` (re-encoded to fit when needed) and
        post it in `channel_id` with `content(clips)`, as a reply to `reply_to`. Costs no credits.

        All or nothing: raises ChainError, `CannotFit` (too long even re-encoded), `NotPlayable`, `VideoTimeout`
        or the chat side's PublishError, and then nothing was posted. No file is left behind either way.
        """
        clips = await self.chain(render)
        for clip in clips:
            if clip.state is not RenderState.DELIVERED:
                raise NotDelivered(clip.id)
        key = clips[0].id
        if key in self._stitching:
            raise StitchBusy(key)
        self._stitching.add(key)
        try:
            async with contextlib.AsyncExitStack() as stack:
                paths = [await stack.enter_async_context(self._fetched(clip)) for clip in clips]
                joined = await self._media.stitch(paths, max_bytes=max_bytes)
            try:
                message_id = await self._chat.post_stitched(
                    channel_id, reply_to, joined, f"chain-{render.id[:8]}.mp4", content(clips)
                )
            finally:
                joined.unlink(missing_ok=True)
        finally:
            self._stitching.discard(key)
        log.info("chain of %d clips ending at render %s stitched (message %s)", len(clips), render.id, message_id)
        return Stitched(message_id, clips)

    @contextlib.asynccontextmanager
    async def _fetched(self, render: RenderRecord) -> AsyncIterator[Path]:
        """The render's delivered clip in a scratch file, removed when the block ends."""
        if render.state is not RenderState.DELIVERED:
            raise NotDelivered(render.id)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        path = self._work_dir / f"{render.id}-{uuid.uuid4().hex[:8]}.mp4"
        try:
            await self._fetch(render, path)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def _fetch(self, render: RenderRecord, dest: Path) -> None:
        url = await self._chat.result_clip_url(render)
        if url is not None and await self._download(render, url, dest, "its message"):
            return
        kept = self._kept_clips / f"{render.id}.mp4"
        try:
            await asyncio.to_thread(shutil.copyfile, kept, dest)
            return
        except OSError:
            pass  # the usual case: a delivered clip's download is removed once it is posted
        if (render.video_url or render.task_id) and await self._download(render, render.video_url, dest, "its URL"):
            return
        raise ClipUnavailable(render)

    async def _download(self, render: RenderRecord, url: str | None, dest: Path, where: str) -> bool:
        try:
            size = await self._api.download(render.task_id or "", url, dest, max_bytes=self._max_clip_bytes)
        except VideoApiError as error:
            log.info("render %s: clip not fetched from %s (%s)", render.id, where, type(error).__name__)
            return False
        log.info("render %s: clip fetched from %s (%d bytes)", render.id, where, size)
        return True
