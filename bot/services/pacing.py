"""Pure timing rules of the tracker: how often to poll a render, and a token bucket for the API's status calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

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


def retry_delay(attempt: int, base: float, cap: float = 300.0) -> float:
    """Back-off between attempts at something that failed passingly (a 5xx, a dropped connection)."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


class RateLimiter:
    """A token bucket shared by every status call of the process, so 1,000 renders cannot flood the API."""

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
