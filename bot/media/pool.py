"""Video jobs off the event loop: a small thread pool, each job under a time limit it checks as it goes.

FFmpeg and x264 do the work in C, largely outside the GIL (their own threads), so a worker thread leaves the loop
responsive: `python -m bench --only video` prints the loop's longest stall while a job runs.
Threads can't be killed: the limit is a `Deadline` the decode and encode loops check at every packet and frame,
which also lets a caller that stops waiting (its task cancelled) stop the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.media.deadline import Deadline
from bot.media.fitting import fit
from bot.media.frames import last_frame
from bot.media.stitching import stitch
from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
WORKER_NICENESS = 10  # of 19: video work gets what CPU the event loop leaves


class VideoWorker:
    """Runs `last_frame`, `fit` and `stitch` for async callers, `workers` at a time, each within `time_limit` s.

    The limit counts from when a job starts, not while it queues behind others. Files it returns are the caller's
    to delete; a job that fails, times out or is abandoned leaves nothing behind in `work_dir`.
    """

    def __init__(
        self,
        *,
        work_dir: Path,
        workers: int = 1,
        time_limit: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.work_dir = work_dir
        self.time_limit = time_limit
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="video", initializer=_yield_cpu)
        self._running: set[Deadline] = set()
        self._lock = threading.Lock()
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoWorker:
        return cls(
            work_dir=settings.data_dir / "video",
            workers=settings.video_workers,
            time_limit=settings.video_time_limit,
        )

    async def last_frame(self, path: Path) -> bytes:
        """The clip's last frame as PNG bytes."""
        return await self._run("last_frame", lambda deadline: last_frame(path, deadline=deadline), keep=())

    async def fit(self, path: Path, max_bytes: int) -> Path:
        """The clip re-encoded under `max_bytes` (or `path` itself when it already fits)."""
        return await self._run(
            "fit",
            lambda deadline: fit(path, max_bytes, work_dir=self.work_dir, deadline=deadline),
            keep=(path,),
        )

    async def stitch(self, paths: Sequence[Path], max_bytes: int | None = None) -> Path:
        """The clips joined in order into one MP4."""
        clips = list(paths)
        return await self._run(
            "stitch",
            lambda deadline: stitch(clips, work_dir=self.work_dir, max_bytes=max_bytes, deadline=deadline),
            keep=clips,
        )

    async def aclose(self) -> None:
        """At shutdown: drop queued jobs, stop running ones at their next check, and wait until they have."""
        with self._lock:
            self._closing = True
            for deadline in self._running:
                deadline.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        # Each stopped job removes its partial file on the way out: wait for that, off the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True)

    async def _run(self, name: str, job: Callable[[Deadline], T], *, keep: Sequence[Path]) -> T:
        deadline = Deadline(self.time_limit, clock=self._clock)

        def run() -> T:
            deadline.start()
            with self._lock:
                self._running.add(deadline)
                if self._closing:
                    deadline.cancel()
            began = time.monotonic()
            try:
                result = job(deadline)
            except Exception as error:
                log.info("video job %s stopped after %.1f s: %s", name, time.monotonic() - began, type(error).__name__)
                raise
            finally:
                with self._lock:
                    self._running.discard(deadline)
            log.info("video job %s done in %.1f s", name, time.monotonic() - began)
            return result

        future = self._pool.submit(run)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            deadline.cancel()
            # The job may finish anyway (it was past its last check): nobody will take its file, so remove it.
            future.add_done_callback(lambda done: _discard_output(done, keep))
            raise


def _yield_cpu() -> None:
    """Lower this worker thread's CPU priority, and so that of the encoder threads FFmpeg starts from it.

    An encode keeps every core busy; at equal priority the event loop (Discord's heartbeat, interactions) would
    queue behind it. On Linux a nice value is per thread and inherited by the threads it starts.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


def _discard_output(done: Future[T], keep: Sequence[Path]) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    result = done.result()
    if isinstance(result, Path) and result not in keep:
        result.unlink(missing_ok=True)
