"""Status calls per render, and the rate the API sees against MAX_STATUS_CALLS_PER_SECOND.

Every render answers "not done" to exactly RENDER_POLLS status calls and "done" to the next, so a tracker that
wastes nothing makes RENDER_POLLS + 1 calls per render. The cap is set low enough that it binds: the renders
want more calls per second than it allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass

from bench.harness import World, free_port, wait_until, world

RENDER_POLLS = 3
POLL_INTERVAL = 0.5  # every render wants a call every half second: far more than the cap allows
STATUS_CAP = 10.0
MEMBERS = 5


@dataclass(frozen=True)
class PollingResult:
    renders: int
    delivered: int
    calls_per_render: float  # mean over renders, as the API counted them
    max_calls_per_render: int
    ideal_per_render: int
    total_calls: int
    bot_counted: float | None  # the bot's own videobot_status_calls_total
    cap: float
    steady_rate: float  # calls per second once the bucket's initial burst is spent, up to the last call
    peak_rate: float  # most calls seen in any 1-second window
    seconds: float  # first command sent to last clip delivered


def _peak_rate(samples: list[tuple[float, int]], window: float = 1.0) -> float:
    """Most calls in any `window`-second stretch, from (time, running total) samples."""
    best = 0.0
    j = 0
    for i, (t_i, total_i) in enumerate(samples):
        j = max(j, i)
        while j + 1 < len(samples) and samples[j + 1][0] - t_i <= window:
            j += 1
        best = max(best, (samples[j][1] - total_i) / window)
    return best


def _steady_rate(samples: list[tuple[float, int]], burst_window: float = 1.0) -> float:
    """Calls per second from one second after the first call to the last call.

    The token bucket starts full, so the first second may see up to twice the cap; after that the rate is the
    cap whenever the renders want more than it allows.
    """
    moving = [(t, total) for (t, total), (_, before) in zip(samples[1:], samples, strict=False) if total > before]
    if len(moving) < 2:
        return 0.0
    start = next(((t, n) for t, n in samples if t >= moving[0][0] + burst_window), None)
    end = moving[-1]
    if start is None or end[0] <= start[0]:
        return 0.0
    return (end[1] - start[1]) / (end[0] - start[0])


async def _sample(w: World, samples: list[tuple[float, int]], interval: float = 0.05) -> None:
    while True:
        samples.append((time.monotonic(), w.status_calls()))
        await asyncio.sleep(interval)


async def run(*, renders: int) -> PollingResult:
    async with world() as w:
        w.api.configure(render_polls=RENDER_POLLS, outcome="success", video_size=64 * 1024)
        w.add_members(MEMBERS)
        await w.start_bot(
            POLL_INTERVAL_SECONDS=str(POLL_INTERVAL),
            MAX_STATUS_CALLS_PER_SECOND=str(STATUS_CAP),
            HEALTH_PORT=str(free_port()),  # for the bot's own count of its status calls (/metrics)
        )
        samples: list[tuple[float, int]] = []
        sampler = asyncio.create_task(_sample(w, samples))
        started = time.monotonic()
        try:
            sent = [await w.slash_generate(n) for n in range(renders)]
            await asyncio.gather(*(w.answered(i, within=120) for i in sent))

            def delivered() -> int:
                return sum(1 for m in w.discord.messages() if m.attachments)

            await wait_until(lambda: delivered() >= renders, within=300, what=f"{renders} clips delivered")
            seconds = time.monotonic() - started
            samples.append((time.monotonic(), w.status_calls()))
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        per_render = [task.status_calls for task in w.api.tasks.values()]
        total = sum(per_render)
        return PollingResult(
            renders=renders,
            delivered=delivered(),
            calls_per_render=statistics.fmean(per_render) if per_render else 0.0,
            max_calls_per_render=max(per_render, default=0),
            ideal_per_render=RENDER_POLLS + 1,
            total_calls=total,
            bot_counted=await w.bot_metric("videobot_status_calls_total"),
            cap=STATUS_CAP,
            steady_rate=_steady_rate(samples),
            peak_rate=_peak_rate(samples),
            seconds=seconds,
        )
