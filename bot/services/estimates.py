"""Estimates of render times, read from the shared database at most once a minute and answered from memory.

Every process measures from the same rows (the renders the API finished most recently, whoever polled them), so
all processes sharing a database give the same estimate within a minute. The tracker asks on every poll: the
answer comes from memory; the database is read again only once the last read is a minute old.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.estimates import LAST_RENDERS, MIN_SAMPLES, Estimate, EstimateTable, RenderKind, Sample
from bot.domain.request import VideoRequest

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(minutes=1)
# Renders read per refresh, all kinds together: enough for LAST_RENDERS of the few kinds a server uses.
RECENT_RENDERS = 500


class DurationSource(Protocol):
    async def recent_durations(self, limit: int = ...) -> list[tuple[str, str, int, float]]: ...


def kind_of(request: VideoRequest) -> RenderKind:
    return RenderKind(request.model, request.mode.value, request.duration)


class Estimates:
    def __init__(
        self,
        renders: DurationSource,
        *,
        now: Callable[[], datetime],
        refresh_every: timedelta = REFRESH_EVERY,
        recent: int = RECENT_RENDERS,
        last: int = LAST_RENDERS,
        min_samples: int = MIN_SAMPLES,
    ) -> None:
        self._renders = renders
        self._now = now
        self._refresh_every = refresh_every
        self._recent = recent
        self._last = last
        self._min = min_samples
        self._table = EstimateTable((), last=last, min_samples=min_samples)
        self._read_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.reads = 0  # database reads so far (for tests and benchmarks)

    async def estimate(self, request: VideoRequest) -> Estimate | None:
        """The estimate for a render of `request`, reading the database first if the last read is a minute old."""
        # Only the very first read is waited for; later, while one caller reads, the others get the last figures.
        if self._stale() and not (self._lock.locked() and self._read_at is not None):
            async with self._lock:
                if self._stale():  # another caller may have read it while this one waited
                    await self._refresh()
        return self._table.estimate(kind_of(request))

    def cached(self, request: VideoRequest) -> Estimate | None:
        """The estimate from the last read, without touching the database (None until a first read)."""
        return self._table.estimate(kind_of(request))

    def _stale(self) -> bool:
        return self._read_at is None or self._now() - self._read_at >= self._refresh_every

    async def _refresh(self) -> None:
        self.reads += 1
        try:
            rows = await self._renders.recent_durations(self._recent)
        except Exception as error:
            # Estimates only pace polling and inform the card: the last figures (or none) serve until the next read,
            # a minute later rather than on every poll in between.
            log.warning("render time estimates not refreshed (%s); keeping the last ones", type(error).__name__)
        else:
            samples = [Sample(RenderKind(m, quality, duration), seconds) for m, quality, duration, seconds in rows]
            self._table = EstimateTable(samples, last=self._last, min_samples=self._min)
        finally:
            self._read_at = self._now()
