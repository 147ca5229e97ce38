"""How long members' images are kept: as long as a render needs them, and no longer.

A render not finished yet needs its images (it may still be submitted, or submitted again). A render delivered
keeps them for `keep_days` more, for Regenerate and Remix; a render that failed, was denied or was refunded keeps
none. Images no render needs are deleted by `purge`, which runs at start-up and then every `interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.clock import utc_now
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)

# An image claimed this recently is never purged: a request between storing (or reusing) its images and
# reserving its renders has no render on record yet, and must not lose them meanwhile.
CLAIM_GRACE = timedelta(hours=1)
PURGE_INTERVAL = timedelta(hours=1)


class ImageRetention:
    def __init__(
        self,
        *,
        images: ImageStore,
        renders: RenderRepository,
        keep_days: float,
        now: Callable[[], datetime] = utc_now,
        interval: timedelta = PURGE_INTERVAL,
    ) -> None:
        self._images = images
        self._renders = renders
        self._keep = timedelta(days=keep_days)
        self._now = now
        self._interval = interval
        self._stopping = asyncio.Event()

    async def purge(self, now: datetime) -> int:
        """Delete the stored images no render needs at `now`; returns how many were deleted."""
        in_use = await self._renders.images_in_use(delivered_since=now - self._keep)
        deleted = await self._images.delete_unused(in_use, claimed_before=now - CLAIM_GRACE)
        if deleted:
            log.info("purged %d stored image(s) no render needs any more", deleted)
        return deleted

    async def run(self) -> None:
        """Purge now, then every interval, until `stop`; a failed purge is logged and tried again next time."""
        while not self._stopping.is_set():
            try:
                await self.purge(self._now())
            except Exception:
                log.exception("image purge failed; trying again in %s", self._interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval.total_seconds())

    def stop(self) -> None:
        self._stopping.set()
