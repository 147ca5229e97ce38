"""A cooperative time limit: a worker thread can't be killed, so the decode and encode loops ask it every step."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.media.errors import Cancelled, VideoTimeout


class Deadline:
    """Raises from `check()` once `seconds` have passed since `start()` (or the first check), or after `cancel()`."""

    def __init__(self, seconds: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends: float | None = None
        self._cancelled = threading.Event()

    def start(self) -> None:
        """Count from now: a job's limit covers its own work, not the time it queued behind others."""
        if self.seconds is not None:
            self._ends = self._clock() + self.seconds

    def cancel(self) -> None:
        """Ask the loop to stop at its next check (from any thread)."""
        self._cancelled.set()

    def check(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled("the caller stopped waiting for this video job")
        if self.seconds is None:
            return
        if self._ends is None:
            self.start()
        elif self._clock() > self._ends:
            raise VideoTimeout(self.seconds)
