"""Timing rules of the tracker: how often to poll a render, and the cap on the API's status calls."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.domain.estimates import Estimate

_TOLERANCE = 1e-9


def poll_delay(age_seconds: float, base_interval: float) -> float:
    """Seconds until the next status call: renders that have been going for long are polled less often.

    The API's own progress only moves in coarse steps and it polls Kling every 15 s, so a young render is worth
    watching closely (the member is waiting) and an old one rarely (it is probably stuck or long).
    """
    if age_seconds < 120:
        factor = 1.0
    elif age_seconds < 600:
        factor = 1.5
    elif age_seconds < 1800:
        factor = 3.0
    else:
        factor = 6.0
    return min(base_interval * factor, max(base_interval, 120.0))


# The first status call comes this much before the earliest plausible finish (at least one poll interval): the
# measured times run late by up to an interval (a render counts as finished when a status call sees it so).
EARLY_MARGIN = 0.1
# Past the 90th percentile by this factor a render is probably stuck or unusually long: asked less often.
FAR_PAST_P90 = 1.5
VERY_FAR_PAST_P90 = 3.0


def expected_poll_delay(
    elapsed: float,
    estimate: Estimate | None,
    poll_interval: float,
    *,
    late: float = 0.0,
    longest: float | None = None,
) -> float:
    """Seconds until the next status call of a render submitted `elapsed` seconds ago, by what renders of its
    kind took: none long before it can be done, one every poll interval once it may be, fewer far past the 90th
    percentile. No estimate: `poll_delay`. `longest` bounds the first wait (a render never goes unasked longer).

    `late` is how long first status calls have lately left after they were due (waiting for the status-call cap
    and their turn). The first call is brought forward by as much: a render counts as finished when a call sees
    it so, and first calls that leave late would record the quickest renders as slower, push the next first
    calls later still, and so on, while the cap goes unused.
    """
    if estimate is None:
        return poll_delay(elapsed, poll_interval)
    first = estimate.low - max(poll_interval, EARLY_MARGIN * estimate.low) - max(0.0, late)
    if elapsed < first:
        wait = first - elapsed
        return min(wait, longest) if longest is not None else wait
    if elapsed < estimate.p90 * FAR_PAST_P90:
        return poll_interval
    factor = 2.0 if elapsed < estimate.p90 * VERY_FAR_PAST_P90 else 4.0
    # Never more often than the age alone would ask: a render hours old is polled as today's schedule polls it.
    return min(max(poll_interval * factor, poll_delay(elapsed, poll_interval)), max(poll_interval, 120.0))


def retry_delay(attempt: int, base: float, cap: float = 300.0) -> float:
    """Back-off between attempts at something that failed passingly (a 5xx, a dropped connection)."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


class CallCap:
    """At most `rate` calls in any one-second window, plus `burst` extra: a cap that holds second by second.

    A token bucket lets through twice its rate in the second it starts full; this counts the calls of the last
    window instead. Callers are served in the order they asked (a lock is fair), so the order in which renders
    are claimed decides who is asked first, and none waits for ever. A rate under 1 means one call every
    1/rate seconds.
    """

    def __init__(
        self,
        rate_per_second: float,
        *,
        burst: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("the call rate must be positive")
        self._window = max(1.0, 1.0 / rate_per_second)
        self._limit = max(1, math.floor(rate_per_second * self._window + _TOLERANCE)) + max(0, burst)
        self._recent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.waiting = 0  # callers queued for the cap right now (for metrics and tests)

    async def acquire(self) -> None:
        self.waiting += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock()
                    while self._recent and self._recent[0] <= now - self._window:
                        self._recent.popleft()
                    if len(self._recent) < self._limit:
                        self._recent.append(now)
                        return
                    await self._sleep(max(_TOLERANCE, self._recent[0] + self._window - now))
        finally:
            self.waiting -= 1
