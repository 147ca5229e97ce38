"""Today's tracker (branch `main`, before the Scale issue), rebuilt only so the scale benchmark can measure against it.

Nothing in the bot uses this. It reproduces main's scheduling exactly: one claim for every state sharing
`claim_batch`, longest-due first; one pool of `max_concurrent` slots for every step; and the status-call token
bucket acquired INSIDE that slot, so a delivery or a submit queues behind polls that wait for the budget. The
rest of a step (what a poll, a submit or a delivery does) is the current tracker's, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.background import spawn
from bot.clock import SYSTEM_CLOCK, Clock
from bot.domain.render import RenderRecord
from bot.services.tracker import Tracker

log = logging.getLogger("bot.services.tracker")

_TOLERANCE = 1e-9


class RateLimiter:
    """main's token bucket (bot/services/pacing.py there), copied verbatim: it starts full and refills at `rate`,
    so a second after a quiet spell can see about twice the rate."""

    def __init__(
        self,
        rate_per_second: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate_per_second
        self._capacity = burst if burst is not None else max(1.0, rate_per_second)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                # The tolerance absorbs float rounding: without it a deficit smaller than the clock's resolution
                # asks for a sleep that moves the clock by nothing, again and again.
                if self._tokens >= 1 - _TOLERANCE:
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self._sleep((1 - self._tokens) / self._rate)


class TodaysTracker(Tracker):
    """main's `Tracker.tick` and `Tracker._run_step`, on top of the current tracker; exists only to measure against.

    The clock's `monotonic`/`sleep` drive the token bucket, as they drive the tracker's own cap. Since nothing
    here marks a status call as let through in advance, the inherited `_poll` acquires the bucket itself, inside
    the step's slot, exactly as main's did.
    """

    def __init__(self, *args: Any, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> None:
        super().__init__(*args, clock=clock, **kwargs)
        self._slots = asyncio.Semaphore(self._config.max_concurrent)
        self._status_calls = RateLimiter(  # type: ignore[assignment]  # same acquire() as the CallCap it replaces
            self._config.status_calls_per_second, clock=clock.monotonic, sleep=clock.sleep
        )
        self._lifecycle._status_calls = self._status_calls  # type: ignore[assignment]  # see above

    async def tick(self) -> int:
        """Claim what is due and start a worker for each; returns how many were started."""
        free = self._config.claim_batch - len(self._busy)
        if free <= 0:
            return 0
        due = await self._renders.claim_due(
            self._config.owner, now=self._clock.now(), limit=free, lease_seconds=self._config.lease_seconds
        )
        started = 0
        for render in due:
            if render.id in self._busy:
                continue
            self._busy.add(render.id)
            worker = spawn(self._run_step(render), name=f"render-{render.id}")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
            started += 1
        return started

    async def _run_step(self, render: RenderRecord, polling: bool = False) -> None:
        next_at = self._clock.now() + timedelta(seconds=self._config.poll_interval)
        keeper = spawn(self._keep_lease(render.id), name=f"lease-{render.id}")
        try:
            async with self._slots:
                next_at = await self.step(render)
        except Exception:
            log.exception("render %s: step failed; will retry", render.id)
        finally:
            keeper.cancel()
            try:
                await self._renders.release(
                    render.id,
                    self._config.owner,
                    next_poll_at=next_at,
                    seen_state=self._seen.pop(render.id, render.state),
                    now=self._clock.now(),
                )
            except Exception:
                log.exception("render %s: could not release its lease", render.id)
            # Only now may a tick claim it again: before the release its old next_poll_at still looks due.
            self._busy.discard(render.id)
            if next_at <= self._clock.now():
                self._wake.set()  # the render has more to do right away (deliver, close): don't wait a tick
