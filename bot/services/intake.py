"""Bounds on the work a request costs before it is reserved, so no member can exhaust the bot.

Until the reservation, a request costs the bot downloads, memory and CPU but the member nothing: each member may
have only a few requests in that stage at once, and the image decoding and re-encoding of every member shares one
small pool of threads, never the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A member's requests with attachments being prepared at once (downloading, images checked): two covers a member
# who sends a second request before the first is through; more would only be someone flooding the bot.
MAX_PREPARING_PER_MEMBER = 2
# Threads decoding and re-encoding images, for every member together. Each may hold one image of up to 64 MP
# decoded (about 200 MB, twice while it is turned upright): two bound that near 1 GB, and keep a core free for the
# event loop on the small hosts the bot runs on. Pillow releases the GIL while it works, so two really run at once.
IMAGE_WORKERS = 2


class Intake:
    def __init__(self, *, per_member: int = MAX_PREPARING_PER_MEMBER, image_workers: int = IMAGE_WORKERS) -> None:
        self.per_member = per_member
        self._preparing: Counter[int] = Counter()
        self._images = ThreadPoolExecutor(max_workers=image_workers, thread_name_prefix="images")

    def preparing(self, user_id: int) -> int:
        """How many of this member's requests are being prepared right now."""
        return self._preparing[user_id]

    def claim(self, user_id: int) -> _Slot | None:
        """A slot for one more request of this member (hold it with `with` until the reservation), or None when the
        member already has `per_member` requests being prepared."""
        # No await between the check and the count: two interactions of one member can't both take the last slot.
        if self._preparing[user_id] >= self.per_member:
            log.info("user %s already has %d requests being prepared; refused another", user_id, self.per_member)
            return None
        self._preparing[user_id] += 1
        return _Slot(functools.partial(self._release, user_id))

    def _release(self, user_id: int) -> None:
        self._preparing[user_id] -= 1
        if self._preparing[user_id] <= 0:
            del self._preparing[user_id]

    async def image_work(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU-bound image work in the image threads; waits for a free one."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._images, functools.partial(work, *args, **kwargs))

    def close(self) -> None:
        """Stop the image threads (work already running finishes; queued work is dropped)."""
        self._images.shutdown(wait=False, cancel_futures=True)


class _Slot:
    """One request being prepared; its place is given back once, when its `with` block ends however it ends."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        if self._release is not None:
            self._release()
            self._release = None
