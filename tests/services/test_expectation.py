"""Polling by expectation: status calls scheduled from what renders of the same kind took.

The schedule itself at each regime, then the real tracker on a clock of its own: a render with history is not
asked about before it can plausibly be done, the status-call cap holds when many become due at once, and a
render without history is polled as before.
"""

# ruff: noqa: F811  # the harness fixtures are imported from test_tracker and requested by name
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.estimates import Estimate, RenderKind
from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.services.estimates import Estimates
from bot.services.pacing import expected_poll_delay, poll_delay
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from bot.videoapi.status import TaskStatus
from tests.fakes.video_api import FakeVideoApi
from tests.services.recording_publisher import RecordingPublisher
from tests.services.render_history import add_finished
from tests.services.test_tracker import (  # noqa: F401  # fixtures
    MODELS,
    POLL,
    api,
    db,
    no_step_crashes,
    session,
)
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request

KIND = RenderKind("kling-v3", "std", 5)
# Renders of the kind took 2-4 minutes: the earliest ends at 132 s, most by 228 s.
TWO_TO_FOUR = Estimate(median=180.0, p90=228.0, low=132.0, samples=40, kind=KIND, exact=True)
FIRST = 132.0 - 13.2  # a tenth of the earliest end before it (more than one poll interval)


# ---- the schedule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("elapsed", "wait"), [(0.0, FIRST), (100.0, FIRST - 100.0)])
def test_no_status_call_before_the_earliest_plausible_end(elapsed: float, wait: float) -> None:
    assert expected_poll_delay(elapsed, TWO_TO_FOUR, POLL) == pytest.approx(wait)


def test_first_calls_leaving_late_bring_the_first_call_forward_by_as_much() -> None:
    assert expected_poll_delay(0.0, TWO_TO_FOUR, POLL, late=30.0) == pytest.approx(FIRST - 30.0)
    assert expected_poll_delay(0.0, TWO_TO_FOUR, POLL, late=500.0) == POLL


def test_the_first_wait_is_bounded_when_asked() -> None:
    assert expected_poll_delay(0.0, TWO_TO_FOUR, POLL, longest=60.0) == 60.0


@pytest.mark.parametrize("elapsed", [FIRST, 150.0, 228.0, 300.0])
def test_the_poll_interval_once_the_render_may_be_done(elapsed: float) -> None:
    assert expected_poll_delay(elapsed, TWO_TO_FOUR, POLL) == POLL


@pytest.mark.parametrize(("elapsed", "wait"), [(400.0, 2 * POLL), (700.0, 4 * POLL), (2000.0, 6 * POLL)])
def test_fewer_calls_far_past_the_90th_percentile(elapsed: float, wait: float) -> None:
    # Far past it: twice, then four times the interval, and never more often than its age alone would ask.
    assert expected_poll_delay(elapsed, TWO_TO_FOUR, POLL) == wait


def test_the_slowest_cadence_is_capped_at_two_minutes() -> None:
    assert expected_poll_delay(5000.0, TWO_TO_FOUR, 40.0) == 120.0


def test_a_kind_quicker_than_the_margin_is_asked_at_the_interval_from_the_start() -> None:
    quick = Estimate(median=12.0, p90=20.0, low=8.0, samples=10, kind=KIND, exact=True)

    assert expected_poll_delay(0.0, quick, POLL) == POLL


@pytest.mark.parametrize("elapsed", [0.0, 60.0, 300.0, 900.0, 2400.0])
def test_without_an_estimate_the_schedule_is_todays(elapsed: float) -> None:
    assert expected_poll_delay(elapsed, None, POLL) == poll_delay(elapsed, POLL)


# ---- the tracker ----------------------------------------------------------------------------------------


class SteppedTime:
    """Wall and monotonic time moving together, only when told to or when something sleeps (the cap does)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.seconds = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)

    def at(self, moment: datetime) -> None:
        self.seconds = max(self.seconds, (moment - self.start).total_seconds())


class TimedClient(VideoApiClient):
    """The real client, noting the moment each status call leaves."""

    def __init__(self, time: SteppedTime, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._time = time
        self.asked: list[tuple[str, float]] = []  # (task id, seconds since the start)

    async def status(self, task_id: str, **options: Any) -> TaskStatus:
        self.asked.append((task_id, self._time.seconds))
        return await super().status(task_id, **options)


class Bot:
    def __init__(self, tracker: Tracker, repo: RenderRepository, client: TimedClient, time: SteppedTime) -> None:
        self.tracker, self.repo, self.client, self.time = tracker, repo, client, time

    async def add(self) -> RenderRecord:
        new = NewRender(GUILD, CHANNEL, USER, video_request(), 5, 25 * 1024 * 1024, RenderState.ACCEPTED)
        _, [render] = await self.repo.reserve([new], accept_all, now=self.time.now())
        return render

    async def get(self, render_id: str) -> RenderRecord:
        render = await self.repo.get(render_id)
        assert render is not None
        return render

    async def run(self) -> None:
        await self.tracker.run_until_idle()


async def remember(repo: RenderRepository, *seconds: float) -> None:
    """Renders of the test's kind that took `seconds` each, finished over the hour before the start."""
    for n, taken in enumerate(seconds):
        await add_finished(repo, video_request(), taken, finished_at=T0 - timedelta(minutes=n + 1))


@pytest.fixture
def make_bot(db: Database, api: FakeVideoApi, session: aiohttp.ClientSession, tmp_path: Path) -> Callable[..., Bot]:
    api.configure(outcome="stuck")  # never done: every status call is one the schedule chose

    def build(**config: Any) -> Bot:
        time = SteppedTime(T0)
        repo = RenderRepository(db)
        client = TimedClient(time, session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=1))
        settings = TrackerConfig(owner="tracker-e", work_dir=tmp_path / "work", poll_interval=POLL, **config)
        tracker = Tracker(
            repo,
            ImageStore(db),
            client,
            RecordingPublisher(),
            settings,
            models=MODELS,
            clock=Clock(now=time.now, monotonic=time.monotonic, sleep=time.sleep),
            estimates=Estimates(repo, now=time.now),
        )
        return Bot(tracker, repo, client, time)

    return build


async def test_a_render_with_history_is_not_asked_before_its_kind_can_be_done(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot()
    await remember(bot.repo, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240)  # the earliest took 150 s
    render = await bot.add()

    await bot.run()
    queued = await bot.get(render.id)

    first = T0 + timedelta(seconds=150 - 15)
    assert (queued.state, queued.next_poll_at) == (RenderState.QUEUED, first)
    bot.time.at(first - timedelta(seconds=1))
    await bot.run()
    assert bot.client.asked == []

    bot.time.at(first)
    await bot.run()
    assert bot.client.asked == [(queued.task_id, 135.0)]
    asked = await bot.get(render.id)
    assert asked.next_poll_at == bot.time.now() + timedelta(seconds=POLL)


async def test_a_render_far_past_its_kinds_usual_time_is_asked_less_often(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot()
    await remember(bot.repo, *[200.0] * 10)
    render = await bot.add()
    await bot.run()

    bot.time.at(T0 + timedelta(seconds=200 * 1.5 + 1))
    await bot.run()
    polled = await bot.get(render.id)

    assert [task for task, _ in bot.client.asked] == [polled.task_id]
    assert polled.next_poll_at == bot.time.now() + timedelta(seconds=2 * POLL)


async def test_a_render_without_history_is_polled_as_before(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot()
    render = await bot.add()

    await bot.run()

    assert (await bot.get(render.id)).next_poll_at == T0 + timedelta(seconds=POLL)


async def test_renders_due_together_at_their_plausible_end_still_share_the_status_call_cap(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot(status_calls_per_second=2.0)
    await remember(bot.repo, *[150.0] * 10)
    renders = [await bot.add() for _ in range(12)]
    await bot.run()
    first = T0 + timedelta(seconds=150 - 15)
    assert {(await bot.get(r.id)).next_poll_at for r in renders} == {first}

    bot.time.at(first - timedelta(seconds=1))
    await bot.run()
    assert bot.client.asked == []
    bot.time.at(first)
    await bot.run()

    moments = sorted(at for _, at in bot.client.asked)
    assert len({task for task, _ in bot.client.asked}) == len(bot.client.asked) == 12
    assert moments[0] >= 135.0
    # At most two calls in any one-second stretch: the cap holds as it did.
    assert all(later - earlier >= 1.0 for earlier, later in zip(moments, moments[2:], strict=False))


async def test_first_calls_held_up_by_the_cap_bring_later_first_calls_forward(make_bot: Callable[..., Bot]) -> None:
    # Quick renders recorded late because their first call waited would push later first calls later still.
    bot = make_bot(status_calls_per_second=1.0)
    await remember(bot.repo, *[150.0] * 10)
    crowd = [await bot.add() for _ in range(10)]
    await bot.run()
    first = T0 + timedelta(seconds=150 - 15)
    bot.time.at(first)
    await bot.run()
    late = [at - 135.0 for _, at in bot.client.asked]
    assert len(late) == len(crowd) and max(late) >= 9.0  # one a second: the last left nine seconds late

    newcomer = await bot.add()
    submitted_at = bot.time.now()
    await bot.run()
    due = (await bot.get(newcomer.id)).next_poll_at

    assert due is not None
    assert timedelta(seconds=135 - max(late)) < due - submitted_at < timedelta(seconds=135)
