"""Many renders in flight: how long a finished clip waits, and whether the status-call cap holds, today vs now.

The scenario of the Scale issue: N renders kept in flight (each delivered render is replaced by a new request,
so N stays steady), render times spread uniformly over 2-4 minutes, the bot's default settings (poll every 10 s,
MAX_STATUS_CALLS_PER_SECOND 5, MAX_CONCURRENT_POLLS 20, MAX_CONCURRENT_DELIVERIES 10). It runs in this process:
the real `Tracker` on a temporary SQLite file, the real API client against the fake gateway, a publisher that
notes when each clip is posted; and next to it `bench.baseline.TodaysTracker`, main's scheduling, on the same
scenario.

Real time would take too long, so time runs `k` times faster for everything that waits: the tracker's clock
(`now`, so poll intervals and render ages keep their real values), the fake gateway's clock (render times), the
status-call cap's clock and sleeps (so its one-second window is one scaled second), and the tracker's idle nap.
Every figure is in real-world seconds. What does not scale is the work itself (HTTP on loopback, SQLite): it
counts k times over, so the figures err on the slow side; the event loop's lag is printed to judge that.

The cap is judged on the status calls the fake gateway received, per whole second of the run (the start
included, where a full token bucket bursts). Also shown: the busiest one-second stretch anywhere, as the gateway
received the calls and as the tracker sent them; a cap that spaces calls exactly one second apart shows a sixth
call in such a stretch whenever the loopback trip (k times longer here) delays one call more than another.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.baseline import TodaysTracker
from bench.stats import percentile
from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from bot.videoapi.status import TaskStatus
from tests.fakes.video_api import FakeVideoApi, TaskScript
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, USER, accept_all, video_request

# The bot's defaults (bot/settings.py), in real-world seconds.
POLL_INTERVAL = 10.0
STATUS_CAP = 5.0
MAX_CONCURRENT_POLLS = 20
MAX_CONCURRENT_DELIVERIES = 10
IDLE_WAIT = 1.0  # the bot's min(1.0, POLL_INTERVAL)
LEASE_SECONDS = 300.0  # TrackerConfig's default
RENDER_SECONDS = (120.0, 240.0)
TARGET_LAG = 2 * POLL_INTERVAL  # the issue: p95 delivery lag within about two poll intervals, with 150 in flight
TARGET_SIZE = 150

SIZES = (150, 300)
TIME_SCALE = 8.0
WARM_UP = 90.0  # real-world seconds before the measured window: the polling settles into its cycle
MEASURE = 240.0  # renders whose task finishes in this window are measured
DRAIN_LIMIT = 300.0  # longest wait after the window for the measured renders' clips
QUICK = {"sizes": (150,), "warm_up": 60.0, "measure": 120.0}

VIDEO_SIZE = 16 * 1024
API_KEY = "sk-bench-scale-0123456789abcdef"
EPOCH = 1_800_000_000.0  # the fake gateway's clock reads EPOCH + real-world seconds since the run started
TRACKERS = (("today", "main's tracker before issue 11"), ("new", "new tracker"))


class ScaledTime:
    """Real-world time running `k` times faster than the wall clock, frozen at 0 until `start()`."""

    def __init__(self, k: float) -> None:
        self.k = k
        self._started: float | None = None
        self.origin = datetime.fromtimestamp(EPOCH, UTC)

    def start(self) -> None:
        self._started = time.monotonic()

    def seconds(self) -> float:
        """Real-world seconds since `start()`."""
        return 0.0 if self._started is None else (time.monotonic() - self._started) * self.k

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=self.seconds())

    def epoch(self) -> float:
        return EPOCH + self.seconds()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.k)


class TimedVideoApi(FakeVideoApi):
    """The fake gateway, also noting when each status call arrived and the first one that found its task done."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.status_times: list[float] = []  # clock readings, in arrival order
        self.seen_done: dict[str, float] = {}  # task id -> arrival of the first status call answered "done"

    def finished_at(self, task_id: str) -> float:
        task = self.tasks[task_id]
        assert task.script.render_seconds is not None
        return task.created_at + task.script.render_seconds

    async def _status(self, request: web.Request) -> web.StreamResponse:
        at = self._clock()
        task = self.tasks.get(request.match_info["task_id"])
        done_before = task is not None and self._phase(task) == "success"
        response = await super()._status(request)
        self.status_times.append(at)
        if task is not None and task.task_id not in self.seen_done:
            if done_before:
                self.seen_done[task.task_id] = at
            elif self._phase(task) == "success":
                self.seen_done[task.task_id] = self._clock()
        return response


class TimedClient(VideoApiClient):
    """The real API client, also noting when the tracker sends each status call (before the loopback trip)."""

    def __init__(self, clock: ScaledTime, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self.sent: list[float] = []  # real-world seconds since the start

    async def status(self, task_id: str, **options: Any) -> TaskStatus:
        self.sent.append(self._clock.seconds())
        return await super().status(task_id, **options)


class TimedPublisher(RecordingPublisher):
    """The recording publisher, also noting when each render's clip was posted (fake gateway clock)."""

    def __init__(self, clock: ScaledTime) -> None:
        super().__init__()
        self._clock = clock
        self.posted: dict[str, float] = {}  # task id -> when its clip was posted

    async def deliver_file(self, render: RenderRecord, path: Path, filename: str, **where: Any) -> int:
        message_id = await super().deliver_file(render, path, filename, **where)
        self.posted[render.task_id or ""] = self._clock.epoch()
        return message_id

    async def deliver_link(self, render: RenderRecord, url: str | None, size: int | None, **where: Any) -> int:
        message_id = await super().deliver_link(render, url, size, **where)
        self.posted[render.task_id or ""] = self._clock.epoch()
        return message_id


class _Problems(logging.Handler):
    """Counts the bot's warnings and errors: a figure from a run full of failed steps would mislead."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings = 0
        self.errors = 0
        self.first_error = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1
            if not self.first_error:
                cause = f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})" if record.exc_info else ""
                self.first_error = record.getMessage() + cause
        else:
            self.warnings += 1


@dataclass(frozen=True)
class Run:
    tracker: str  # "today" or "new"
    in_flight: int
    lags: list[float]  # clip posted minus task finished, per measured render
    seen_to_post: list[float]  # clip posted minus the status call that first saw the task done
    calls_per_render: list[int]  # status calls of measured renders submitted during the run
    busiest_second: int  # most status calls the API received in one whole second (0-1, 1-2, ...) of the run
    seconds_over_cap: int  # whole seconds with more calls than the cap
    busiest_stretch: int  # most calls the API received in any one-second stretch (a sliding window)
    busiest_sent: int  # the same, counted when the tracker sent them (before the loopback trip)
    seconds_run: int
    window_rate: float  # mean status calls per second in the measured window
    undelivered: int  # measured renders whose clip never came within DRAIN_LIMIT
    loop_lag: float  # p95 event-loop lag, wall seconds
    loop_lag_max: float
    warnings: int
    errors: int


@dataclass(frozen=True)
class ScaleResult:
    k: float
    warm_up: float
    measure: float
    runs: list[Run] = field(default_factory=list)

    def run(self, tracker: str, size: int) -> Run | None:
        return next((r for r in self.runs if r.tracker == tracker and r.in_flight == size), None)


def busiest_stretch(times: Sequence[float], window: float = 1.0) -> int:
    """Most calls in any `window`-long stretch (each stretch ending at a call, open at its start)."""
    ordered = sorted(times)
    best = 0
    first = 0
    for i, t in enumerate(ordered):
        while ordered[first] <= t - window:
            first += 1
        best = max(best, i - first + 1)
    return best


def per_second(times: Sequence[float]) -> list[int]:
    """Calls in each whole second from 0 to the last call."""
    counts = [0] * (math.floor(max(times, default=-1.0)) + 1)
    for t in times:
        counts[math.floor(t)] += 1
    return counts


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[tuple[Database, Path]]:
    scratch = Path(tempfile.mkdtemp(prefix="videobot-scale-"))
    database = Database.from_url(f"sqlite:///{scratch / 'bench.sqlite3'}")
    try:
        await database.upgrade()
        yield database, scratch
    finally:
        await database.close()
        shutil.rmtree(scratch, ignore_errors=True)


async def _loop_lag(samples: list[float], period: float = 0.01) -> None:
    while True:
        began = time.monotonic()
        await asyncio.sleep(period)
        samples.append(time.monotonic() - began - period)


def _render_seconds(rng: random.Random) -> float:
    return rng.uniform(*RENDER_SECONDS)


async def _seed(repo: RenderRepository, api: TimedVideoApi, clock: ScaledTime, rng: random.Random, count: int) -> None:
    """`count` renders already submitted, caught at a random point of their render (as in a steady state), each
    due at a random moment of the next poll interval. The clock is still frozen at 0."""
    now = clock.now()
    for n in range(count):
        length = _render_seconds(rng)
        age = rng.uniform(0.0, length)
        task_id = api.add_task(script=TaskScript(render_seconds=length, video_size=VIDEO_SIZE))
        api.tasks[task_id].created_at = clock.epoch() - age
        state = RenderState.QUEUED if age < length / 3 else RenderState.RENDERING  # what the fake would answer
        new = NewRender(GUILD, CHANNEL, USER, video_request(f"scale clip {n}"), 5, 25 * 1024 * 1024, state)
        _, [render] = await repo.reserve([new], accept_all, now=now)
        submitted = now - timedelta(seconds=age)
        await repo.update(
            render.id,
            now=now,
            task_id=task_id,
            submitted_at=submitted,
            started_at=submitted if state is RenderState.RENDERING else None,
            next_poll_at=now + timedelta(seconds=rng.uniform(0.0, POLL_INTERVAL)),
        )


async def _feed(
    repo: RenderRepository,
    api: TimedVideoApi,
    publisher: TimedPublisher,
    tracker: Tracker,
    clock: ScaledTime,
    rng: random.Random,
    in_flight: int,
    seeded: int,
) -> None:
    """Keep `in_flight` renders open: a new request for every clip posted, accepted and left to the tracker."""
    added = seeded
    while True:
        missing = in_flight - (added - len(publisher.posted))
        for _ in range(missing):
            api.script_next(TaskScript(render_seconds=_render_seconds(rng), video_size=VIDEO_SIZE))
            new = NewRender(
                GUILD, CHANNEL, USER, video_request(f"scale clip {added}"), 5, 25 * 1024 * 1024, RenderState.ACCEPTED
            )
            await repo.reserve([new], accept_all, now=clock.now())
            added += 1
        if missing > 0:
            tracker.wake()
        await clock.sleep(0.25)


async def _one(kind: str, in_flight: int, *, k: float, warm_up: float, measure: float, seed: int) -> Run:
    rng = random.Random(seed)  # both trackers get the same renders
    clock = ScaledTime(k)
    problems = _Problems()
    bot_log = logging.getLogger("bot")
    bot_log.addHandler(problems)
    bot_log.propagate = False  # counted, not printed over the table
    api = TimedVideoApi(api_key=API_KEY, clock=clock.epoch)
    async with _database() as (db, scratch), api, aiohttp.ClientSession() as session:
        repo = RenderRepository(db)
        publisher = TimedPublisher(clock)
        client = TimedClient(clock, session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=4))
        config = TrackerConfig(
            owner=f"bench-scale-{kind}",
            work_dir=scratch / "work",
            poll_interval=POLL_INTERVAL,
            idle_wait=IDLE_WAIT,
            max_concurrent=MAX_CONCURRENT_POLLS,
            max_concurrent_work=MAX_CONCURRENT_DELIVERIES,
            status_calls_per_second=STATUS_CAP,
            # Leases count on the tracker's (scaled) clock but are renewed on wall-clock sleeps; one tracker owns
            # every render here, so leases only need to outlast the run.
            lease_seconds=LEASE_SECONDS * k,
        )
        parts = (repo, ImageStore(db), client, publisher, config)
        models = load_model_table()
        # The status-call cap counts on scaled time, so that its one-second window is one real-world second.
        tracker = (TodaysTracker if kind == "today" else Tracker)(
            *parts,
            models=models,
            holds=ModelHolds(db),
            clock=Clock(now=clock.now, monotonic=clock.seconds, sleep=clock.sleep),
        )
        # The idle nap is the one wait the tracker reads from its config as wall-clock time at run time: scaled by
        # hand, after construction, so that what the tracker derives from it (how many polls to claim ahead of
        # the cap) is derived from the real-world value, as in the bot.
        tracker._config = replace(config, idle_wait=IDLE_WAIT / k)
        await _seed(repo, api, clock, rng, in_flight)
        lag_samples: list[float] = []
        # A full collection of this process's heap (the fakes keep every request and event) stops the loop for
        # 50-100 ms, which scaled time turns into most of a real-world second of bunched calls: the bot's own
        # pauses are neither that long nor stretched. Cyclic garbage waits until the run is over.
        gc.collect()
        gc.disable()
        clock.start()
        background = [
            asyncio.create_task(tracker.run(), name="scale-tracker"),
            asyncio.create_task(_feed(repo, api, publisher, tracker, clock, rng, in_flight, in_flight)),
            asyncio.create_task(_loop_lag(lag_samples)),
        ]
        try:
            await clock.sleep(warm_up + measure)
            window = (EPOCH + warm_up, EPOCH + warm_up + measure)
            measured = [t for t in api.tasks if window[0] <= api.finished_at(t) < window[1]]
            deadline = clock.seconds() + DRAIN_LIMIT
            while clock.seconds() < deadline and any(t not in publisher.posted for t in measured):
                await clock.sleep(1.0)
            ended = clock.seconds()
        finally:
            await tracker.stop(grace=5.0)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            gc.enable()
            bot_log.removeHandler(problems)
            bot_log.propagate = True
        if problems.errors:
            # Steps that crash make figures about nothing: say so rather than print them.
            raise RuntimeError(
                f"{kind} tracker, {in_flight} in flight: {problems.errors} errors; {problems.first_error}"
            )
        posted = [t for t in measured if t in publisher.posted]
        times = [t - EPOCH for t in api.status_times if t - EPOCH <= ended]
        seconds = per_second(times)
        in_window = sum(1 for t in api.status_times if window[0] <= t < window[1])
        return Run(
            tracker=kind,
            in_flight=in_flight,
            lags=[publisher.posted[t] - api.finished_at(t) for t in posted],
            seen_to_post=[publisher.posted[t] - api.seen_done[t] for t in posted if t in api.seen_done],
            calls_per_render=[api.tasks[t].status_calls for t in posted if api.tasks[t].created_at >= EPOCH],
            busiest_second=max(seconds, default=0),
            seconds_over_cap=sum(1 for n in seconds if n > STATUS_CAP),
            seconds_run=len(seconds),
            busiest_stretch=busiest_stretch(times),
            busiest_sent=busiest_stretch([t for t in client.sent if t <= ended]),
            window_rate=in_window / measure,
            undelivered=len(measured) - len(posted),
            loop_lag=percentile(lag_samples, 95),
            loop_lag_max=max(lag_samples, default=math.nan),
            warnings=problems.warnings,
            errors=problems.errors,
        )


async def run(
    *,
    sizes: Sequence[int] = SIZES,
    k: float = TIME_SCALE,
    warm_up: float = WARM_UP,
    measure: float = MEASURE,
    seed: int = 11,
) -> ScaleResult:
    result = ScaleResult(k=k, warm_up=warm_up, measure=measure)
    for size in sizes:
        for kind, _ in TRACKERS:
            result.runs.append(await _one(kind, size, k=k, warm_up=warm_up, measure=measure, seed=seed + size))
    return result


# ---- the printed table -----------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.1f} s"


def _spread(values: Sequence[float]) -> str:
    return f"median {_s(percentile(values, 50))} · p95 {_s(percentile(values, 95))}"


def _verdict(result: ScaleResult, size: int, meets: Callable[[Run], bool]) -> str:
    said = [
        f"{kind} {'yes' if meets(run_) else 'NO'}"
        for kind, _ in TRACKERS
        if (run_ := result.run(kind, size)) is not None
    ]
    return ", ".join(said)


def _calls(r: Run) -> str:
    if not r.calls_per_render:
        return "n/a"
    return f"{statistics.fmean(r.calls_per_render):.1f} mean · {max(r.calls_per_render)} max"


def rows(result: ScaleResult) -> list[tuple[str, ...]]:
    """figure | today's tracker | new tracker | target, one block per size."""
    out: list[tuple[str, ...]] = []
    for size in sorted({r.in_flight for r in result.runs}):
        runs = [result.run(kind, size) for kind, _ in TRACKERS]

        def cells(show: Callable[[Run], str], runs: list[Run | None] = runs) -> tuple[str, ...]:
            return tuple("n/a" if r is None else show(r) for r in runs)

        lag_target = ""
        if size == TARGET_SIZE:
            met = _verdict(result, size, lambda r: percentile(r.lags, 95) <= TARGET_LAG)
            lag_target = f"p95 ≤ {TARGET_LAG:g} s (2 poll intervals): {met}"
        capped = _verdict(result, size, lambda r: r.busiest_second <= STATUS_CAP)
        out += [
            (f"{size} in flight: delivery lag", *cells(lambda r: _spread(r.lags)), lag_target),
            (
                f"{size}: status calls, busiest second",
                *cells(lambda r: f"{r.busiest_second} · over the cap in {r.seconds_over_cap} of {r.seconds_run} s"),
                f"≤ {STATUS_CAP:g} in every second: {capped}",
            ),
            (
                f"{size}: busiest 1 s stretch",
                *cells(lambda r: f"{r.busiest_stretch} at the API · {r.busiest_sent} as sent"),
                "any window, not whole seconds",
            ),
            (f"{size}: status call rate", *cells(lambda r: f"{r.window_rate:.2f}/s mean in the window"), ""),
            (f"{size}: 'done' status call → clip", *cells(lambda r: _spread(r.seen_to_post)), ""),
            (f"{size}: status calls per render", *cells(_calls), "renders submitted during the run"),
            (
                f"{size}: renders measured",
                *cells(lambda r: f"{len(r.lags)} (undelivered {r.undelivered})"),
                f"task finished {result.warm_up:g}-{result.warm_up + result.measure:g} s in",
            ),
            (
                f"{size}: health of the run",
                *cells(
                    lambda r: (
                        f"loop lag p95 {r.loop_lag * 1000:.0f} / max {r.loop_lag_max * 1000:.0f} ms wall"
                        f" · warn {r.warnings} · err {r.errors}"
                    )
                ),
                f"loop lag × {result.k:g} is real-world",
            ),
        ]
    return out


HEADERS = ("figure", *(label for _, label in TRACKERS), "target (issue 11)")


def heading(result: ScaleResult) -> str:
    k = result.k
    low, high = RENDER_SECONDS
    return (
        f"scale · every figure in real-world seconds: time ran {k:g}× faster (renders {low / k:g}-{high / k:g} s, "
        f"poll every {POLL_INTERVAL / k:g} s, cap {STATUS_CAP * k:g} calls per wall second), read back ×{k:g}\n"
        f"defaults: POLL_INTERVAL {POLL_INTERVAL:g} s · MAX_STATUS_CALLS_PER_SECOND {STATUS_CAP:g} · "
        f"MAX_CONCURRENT_POLLS {MAX_CONCURRENT_POLLS} · MAX_CONCURRENT_DELIVERIES {MAX_CONCURRENT_DELIVERIES} "
        f"(today: one pool of {MAX_CONCURRENT_POLLS}) · renders {low:g}-{high:g} s, in flight kept steady"
    )
