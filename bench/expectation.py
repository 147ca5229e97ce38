"""Polling by expectation: status calls per render and delivery lag, next to a fixed interval, in one run.

300 renders kept in flight (each delivered render replaced by a new request), render times spread uniformly over
2-4 minutes, the bot's defaults (poll every 10 s, MAX_STATUS_CALLS_PER_SECOND 5): there the cap binds whatever the
schedule, so status calls per render are the cap's share and only the delivery lag can differ. Then 40 in flight,
where a fixed interval stays under the cap: there the schedule decides how many calls a render costs. The same
tracker runs three times on the same renders, only its schedule differs:
- fixed: a status call every poll interval from the submit on;
- by age: today's schedule when there is no history (the interval, then slower as the render ages);
- by expectation: the first call just before the earliest plausible end of the render's kind, then every
  interval, slower far past the 90th percentile; measured from a few hundred past renders of the same kind
  written to the database before the start (and from the renders finishing during the run).

As in bench/scale.py (whose pieces this reuses): the real `Tracker` in this process on a temporary SQLite file,
the real API client against the fake gateway, time running `k` times faster for everything that waits; every
figure is in real-world seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from unittest.mock import patch

import aiohttp

from bench.scale import (
    API_KEY,
    EPOCH,
    IDLE_WAIT,
    LEASE_SECONDS,
    MAX_CONCURRENT_DELIVERIES,
    MAX_CONCURRENT_POLLS,
    POLL_INTERVAL,
    RENDER_SECONDS,
    STATUS_CAP,
    TIME_SCALE,
    ScaledTime,
    TimedClient,
    TimedPublisher,
    TimedVideoApi,
    _database,
    _feed,
    _loop_lag,
    _Problems,
    _seed,
    per_second,
)
from bench.stats import percentile
from bot.clock import Clock
from bot.discord_app.ui.text import format_estimate
from bot.domain.estimates import Estimate
from bot.domain.models import load_model_table
from bot.services import lifecycle
from bot.services.estimates import Estimates
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.retry import RetryPolicy
from tests.services.render_history import add_finished
from tests.storage.builders import video_request

SIZES = (300, 40)  # the scenario, then one where the cap does not bind
HISTORY = 300  # past renders of the same kind, finished before the run
HISTORY_SEED = 8  # the same history for every run
# Long enough for the seeded renders (each due within its first poll interval) to settle into each schedule.
WARM_UP = 120.0
MEASURE = 240.0
DRAIN_LIMIT = 300.0
QUICK = {"sizes": (40,), "measure": 120.0}
SCHEDULES = (
    ("fixed", "fixed interval"),
    ("age", "by age (today, no history)"),
    ("expected", "by expectation"),
)


@dataclass(frozen=True)
class Run:
    schedule: str
    in_flight: int
    lags: list[float]  # clip posted minus task finished, per measured render
    calls_per_render: list[int]  # status calls of measured renders submitted during the run
    window_rate: float  # mean status calls per second in the measured window
    busiest_second: int
    seconds_over_cap: int
    undelivered: int
    loop_lag: float  # p95, wall seconds
    warnings: int
    estimate_after: str  # what the renders finished meanwhile make of the kind (a drift would show here)


@dataclass(frozen=True)
class ExpectationResult:
    k: float
    warm_up: float
    measure: float
    estimate: str  # what the history said before the run
    runs: list[Run] = field(default_factory=list)

    def run(self, schedule: str, size: int) -> Run | None:
        return next((r for r in self.runs if r.schedule == schedule and r.in_flight == size), None)


def _schedule(name: str) -> contextlib.AbstractContextManager[object]:
    """The fixed schedule is today's code path with the age rule replaced by the bare interval."""
    if name != "fixed":
        return contextlib.nullcontext()
    fixed: contextlib.AbstractContextManager[object] = patch.object(
        lifecycle, "poll_delay", new=lambda age, interval: interval
    )
    return fixed


async def _history(repo: RenderRepository, clock: ScaledTime, rng: random.Random, count: int) -> None:
    """Renders of the same kind (and the same spread of times) the API finished over the hours before the run."""
    for n in range(count):
        await add_finished(
            repo,
            video_request(f"earlier clip {n}"),
            rng.uniform(*RENDER_SECONDS),
            finished_at=clock.now() - timedelta(minutes=n + 1),
        )


def _described(said: Estimate | None) -> str:
    if said is None:
        return format_estimate(None)
    return f"{format_estimate(said)}: p10 {said.low:.0f} s · median {said.median:.0f} s · p90 {said.p90:.0f} s"


async def _one(
    schedule: str, *, in_flight: int, k: float, warm_up: float, measure: float, seed: int
) -> tuple[Run, str]:
    rng = random.Random(seed)  # every schedule gets the same renders
    clock = ScaledTime(k)
    problems = _Problems()
    bot_log = logging.getLogger("bot")
    bot_log.addHandler(problems)
    bot_log.propagate = False
    api = TimedVideoApi(api_key=API_KEY, clock=clock.epoch)
    async with _database() as (db, scratch), api, aiohttp.ClientSession() as session:
        repo = RenderRepository(db)
        await _history(repo, clock, random.Random(HISTORY_SEED), HISTORY)
        estimates = Estimates(repo, now=clock.now) if schedule == "expected" else None
        described = _described(await Estimates(repo, now=clock.now).estimate(video_request()))
        publisher = TimedPublisher(clock)
        client = TimedClient(clock, session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=4))
        config = TrackerConfig(
            owner=f"bench-expectation-{schedule}",
            work_dir=scratch / "work",
            poll_interval=POLL_INTERVAL,
            idle_wait=IDLE_WAIT,
            max_concurrent=MAX_CONCURRENT_POLLS,
            max_concurrent_work=MAX_CONCURRENT_DELIVERIES,
            status_calls_per_second=STATUS_CAP,
            lease_seconds=LEASE_SECONDS * k,
        )
        tracker = Tracker(
            repo,
            ImageStore(db),
            client,
            publisher,
            config,
            models=load_model_table(),
            holds=ModelHolds(db),
            clock=Clock(now=clock.now, monotonic=clock.seconds, sleep=clock.sleep),
            estimates=estimates,
        )
        tracker._config = replace(config, idle_wait=IDLE_WAIT / k)  # the one wall-clock wait (see bench/scale.py)
        await _seed(repo, api, clock, rng, in_flight)
        lag_samples: list[float] = []
        gc.collect()
        gc.disable()
        clock.start()
        background = [
            asyncio.create_task(tracker.run(), name="expectation-tracker"),
            asyncio.create_task(_feed(repo, api, publisher, tracker, clock, rng, in_flight, in_flight)),
            asyncio.create_task(_loop_lag(lag_samples)),
        ]
        try:
            with _schedule(schedule):
                await clock.sleep(warm_up + measure)
                window = (EPOCH + warm_up, EPOCH + warm_up + measure)
                measured = [t for t in api.tasks if window[0] <= api.finished_at(t) < window[1]]
                deadline = clock.seconds() + DRAIN_LIMIT
                while clock.seconds() < deadline and any(t not in publisher.posted for t in measured):
                    await clock.sleep(1.0)
                ended = clock.seconds()
            said = await Estimates(repo, now=clock.now).estimate(video_request())
            after = "none" if said is None else f"{said.low:.0f} · {said.median:.0f} · {said.p90:.0f} s"
        finally:
            await tracker.stop(grace=5.0)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            gc.enable()
            bot_log.removeHandler(problems)
            bot_log.propagate = True
        if problems.errors:
            raise RuntimeError(f"{schedule} schedule: {problems.errors} errors; {problems.first_error}")
        posted = [t for t in measured if t in publisher.posted]
        seconds = per_second([t - EPOCH for t in api.status_times if t - EPOCH <= ended])
        run = Run(
            schedule=schedule,
            in_flight=in_flight,
            lags=[publisher.posted[t] - api.finished_at(t) for t in posted],
            calls_per_render=[api.tasks[t].status_calls for t in posted if api.tasks[t].created_at >= EPOCH],
            window_rate=sum(1 for t in api.status_times if window[0] <= t < window[1]) / measure,
            busiest_second=max(seconds, default=0),
            seconds_over_cap=sum(1 for n in seconds if n > STATUS_CAP),
            undelivered=len(measured) - len(posted),
            loop_lag=percentile(lag_samples, 95),
            warnings=problems.warnings,
            estimate_after=after,
        )
        return run, described


async def run(
    *,
    sizes: Sequence[int] = SIZES,
    k: float = TIME_SCALE,
    warm_up: float = WARM_UP,
    measure: float = MEASURE,
    seed: int = 9,
) -> ExpectationResult:
    runs: list[Run] = []
    described = ""
    for size in sizes:
        for schedule, _ in SCHEDULES:
            one, described = await _one(
                schedule, in_flight=size, k=k, warm_up=warm_up, measure=measure, seed=seed + size
            )
            runs.append(one)
    return ExpectationResult(k=k, warm_up=warm_up, measure=measure, estimate=described, runs=runs)


# ---- the printed table -----------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.1f} s"


def _calls(r: Run) -> str:
    if not r.calls_per_render:
        return "n/a"
    return f"{statistics.fmean(r.calls_per_render):.1f} mean · {max(r.calls_per_render)} max"


def rows(result: ExpectationResult) -> list[tuple[str, ...]]:
    """figure | one column per schedule | note, one block per number of renders in flight."""
    out: list[tuple[str, ...]] = []
    for size in sorted({r.in_flight for r in result.runs}, reverse=True):
        runs = [result.run(name, size) for name, _ in SCHEDULES]

        def cells(show: Callable[[Run], str], runs: list[Run | None] = runs) -> tuple[str, ...]:
            return tuple("n/a" if r is None else show(r) for r in runs)

        out += [
            (f"{size} in flight: status calls per render", *cells(_calls), "renders submitted during the run"),
            (f"{size}: delivery lag, median", *cells(lambda r: _s(percentile(r.lags, 50))), "task finished → posted"),
            (f"{size}: delivery lag, p95", *cells(lambda r: _s(percentile(r.lags, 95))), ""),
            (f"{size}: status call rate", *cells(lambda r: f"{r.window_rate:.2f}/s"), f"cap {STATUS_CAP:g}/s"),
            (
                f"{size}: busiest second",
                *cells(lambda r: f"{r.busiest_second} · over the cap in {r.seconds_over_cap} s"),
                "at the fake API (see bench/scale.py)",
            ),
            (f"{size}: estimate at the end", *cells(lambda r: r.estimate_after), "p10 · median · p90, last 50"),
            (
                f"{size}: renders measured",
                *cells(lambda r: f"{len(r.lags)} (undelivered {r.undelivered})"),
                f"finished {result.warm_up:g}-{result.warm_up + result.measure:g} s in",
            ),
            (
                f"{size}: health of the run",
                *cells(lambda r: f"loop lag p95 {r.loop_lag * 1000:.0f} ms wall · warn {r.warnings}"),
                f"loop lag × {result.k:g} is real-world",
            ),
        ]
    return out


HEADERS: Sequence[str] = ("figure", *(label for _, label in SCHEDULES), "note")


def heading(result: ExpectationResult) -> str:
    low, high = RENDER_SECONDS
    return (
        f"expectation · renders {low:g}-{high:g} s each, in flight kept steady · POLL_INTERVAL "
        f"{POLL_INTERVAL:g} s · MAX_STATUS_CALLS_PER_SECOND {STATUS_CAP:g} · time ran {result.k:g}× faster, "
        f"figures in real-world seconds\nhistory before the run: {HISTORY} renders of the kind "
        f"({result.estimate})"
    )
