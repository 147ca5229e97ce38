"""The tracker at scale: polls wait for the status-call cap without holding up anything else.

Time here is virtual: the tracker's `now`, the cap's clock and the cap's sleep all read one `VirtualTime`, which
moves only when a test moves it. A cap that is never moved lets nothing more through, for as long as the test
likes; every status call is stamped with the virtual moment it left the bot, so "no second has more calls than
the cap" is checked on what the API would see. Everything else is real: storage, the API client against the
fake gateway on loopback, the recording publisher.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.services.tracker import Tracker, TrackerConfig
from bot.settings import load_settings
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from bot.videoapi.status import TaskStatus
from tests.fakes.video_api import FakeVideoApi
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request
from tests.storage.databases import ENGINES, open_database

MB = 1024 * 1024
POLL = 10.0
MODELS = load_model_table()
ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)


class VirtualTime:
    """Seconds since T0 that pass only in `advance`; sleepers wake when it passes their time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._running_free = False

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def clock(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        if self._running_free:
            self.seconds += seconds
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.seconds + seconds, next(self._order), wake))
        await wake

    async def advance(self, seconds: float) -> None:
        """Move time on and give everything that woke the (real) moment it needs to act."""
        self.seconds += seconds
        while self._sleepers and self._sleepers[0][0] <= self.seconds + 1e-9:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
        await asyncio.sleep(0.02)

    def run_free(self) -> None:
        """From now on a sleep simply moves time on (to let the remaining steps finish at the end of a test)."""
        self._running_free = True
        for _, _, wake in self._sleepers:
            if not wake.done():
                wake.set_result(None)
        self._sleepers.clear()


class WatchedClient(VideoApiClient):
    """The real client, stamping each status call with the virtual moment it leaves and counting those in flight.

    `gate` (open by default) holds status calls at the API's door, as a slow gateway would.
    """

    def __init__(self, *args: Any, time: VirtualTime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time = time
        self.asked: list[tuple[float, str]] = []  # (virtual second, task id) of every status call
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def status(
        self, task_id: str, *, video_path: str | None = None, max_attempts: int | None = None
    ) -> TaskStatus:
        self.asked.append((self.time.seconds, task_id))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            return await super().status(task_id, video_path=video_path, max_attempts=max_attempts)
        finally:
            self.in_flight -= 1


@dataclass
class Lane:
    """One tracker (one process) on the shared database, with its own client and publisher."""

    tracker: Tracker
    client: WatchedClient
    publisher: RecordingPublisher


@dataclass
class World:
    repo: RenderRepository
    api: FakeVideoApi
    time: VirtualTime
    build: Callable[..., Lane]
    lanes: list[Lane] = field(default_factory=list)

    async def render(
        self,
        *,
        age: float,
        due_in: float = 0.0,
        state: RenderState = RenderState.RENDERING,
        outcome: str = "stuck",
    ) -> RenderRecord:
        """A render submitted `age` seconds ago, in `state`, looked at next in `due_in` seconds."""
        now = self.time.now()
        submitted = now - timedelta(seconds=age)
        task_id = self.api.add_task(outcome=outcome, render_polls=0 if outcome == "success" else 2)
        new = NewRender(GUILD, CHANNEL, USER, video_request(), 5, 25 * MB, RenderState.ACCEPTED)
        _, [render] = await self.repo.reserve([new], accept_all, now=submitted)
        path = [RenderState.SUBMITTING, RenderState.QUEUED]
        if state in (RenderState.RENDERING, RenderState.SUCCEEDED):
            path.append(RenderState.RENDERING)
        if state is RenderState.SUCCEEDED:
            path.append(RenderState.SUCCEEDED)
        fields: dict[str, Any] = {"task_id": task_id, "submitted_at": submitted}
        if state is RenderState.SUCCEEDED:
            fields |= {"video_url": f"{self.api.base_url}/files/{task_id}.mp4", "finished_at": now, "progress": 100}
        for step in path:
            moved = await self.repo.move(render.id, step, now=submitted)
            assert moved is not None
        await self.repo.update(render.id, now=now, next_poll_at=now + timedelta(seconds=due_in), **fields)
        stored = await self.repo.get(render.id)
        assert stored is not None
        return stored

    async def finish(self) -> None:
        """Let every step in progress end (the cap runs free), so nothing outlives the test's database."""
        self.time.run_free()
        for lane in self.lanes:
            lane.client.gate.set()
        for lane in self.lanes:
            await lane.tracker.stop(grace=60)

    def asked(self) -> list[tuple[float, str]]:
        """Every status call of every tracker, in virtual time order."""
        return sorted(call for lane in self.lanes for call in lane.client.asked)


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite; tests whose outcome may depend on the engine also run on PostgreSQL (`@ON_EVERY_ENGINE`)."""
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
async def world(db: Database, tmp_path: Path) -> AsyncIterator[World]:
    time = VirtualTime()
    repo = RenderRepository(db)
    async with FakeVideoApi(clock=time.clock) as api, aiohttp.ClientSession() as session:

        def build(*, owner: str = "tracker-a", **config: Any) -> Lane:
            work_dir = tmp_path / f"work-{owner}"
            work_dir.mkdir(exist_ok=True)
            settings = replace(TrackerConfig(owner=owner, work_dir=work_dir, poll_interval=POLL), **config)
            client = WatchedClient(
                session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=1), time=time, rand=lambda: 0.5
            )
            publisher = RecordingPublisher()
            tracker = Tracker(
                repo,
                ImageStore(db),
                client,
                publisher,
                settings,
                models=MODELS,
                clock=Clock(now=time.now, monotonic=time.clock, sleep=time.sleep),
            )
            lane = Lane(tracker, client, publisher)
            lanes.append(lane)
            return lane

        lanes: list[Lane] = []
        made = World(repo, api, time, build, lanes)
        try:
            yield made
        finally:
            await made.finish()


@pytest.fixture(autouse=True)
def no_step_crashes(caplog: pytest.LogCaptureFixture) -> Any:
    """A step that raises is only logged by the tracker; here it must fail the test."""
    caplog.set_level(logging.INFO)
    yield
    crashes = [r for r in caplog.records if r.name == "bot.services.tracker" and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


async def eventually(condition: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0) -> None:
    """Wait (real time) until `condition` holds; the tracker's steps talk to a real database and API."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.01)


def busiest_second(times: list[float]) -> int:
    """The most calls in any one-second window [t, t + 1): the busiest one starts at some call."""
    ordered = sorted(times)
    return max((sum(1 for u in ordered if t <= u < t + 1 - 1e-9) for t in ordered), default=0)


async def drive(world: World, seconds: float, *, step: float = 0.25, tick_every: float = 1.0) -> None:
    """Run the trackers for `seconds` of virtual time: a tick each `tick_every`, as their loop would."""
    ticks_per = round(tick_every / step)
    for number in range(round(seconds / step)):
        if number % ticks_per == 0:
            for lane in world.lanes:
                await lane.tracker.tick()
        await world.time.advance(step)


# ---- nothing waits for a budget it does not use --------------------------------------------------------------


async def test_clips_are_delivered_while_200_polls_wait_for_the_status_call_budget(world: World) -> None:
    """205 renders are still rendering, more overdue than the 5 finished ones: before issue 11 one claim took the
    most overdue first (the polls, up to the claim batch) and every step held one of the same slots while waiting
    for the cap, so here, where the cap lets nothing more through, no clip would ever have got out."""
    lane = world.build(status_calls_per_second=5.0)
    polls = [await world.render(age=60 + number, due_in=-30) for number in range(205)]
    finished = [await world.render(age=200, state=RenderState.SUCCEEDED) for _ in range(5)]

    for _ in range(3):
        await lane.tracker.tick()
        await asyncio.sleep(0.05)
    await eventually(lambda: len(lane.publisher.deliveries) == 5)

    assert {event.render.id for event in lane.publisher.deliveries if event.render} == {r.id for r in finished}
    # The clock never moved: the cap let its first second's calls through and nothing since, so 200 renders
    # are still waiting for the budget (a few of them queued at the cap, the rest not yet claimed).
    assert len(lane.client.asked) == 5
    assert lane.tracker.polls_waiting > 0
    unanswered = [r for r in polls if r.task_id not in {task for _, task in lane.client.asked}]
    assert len(unanswered) == 200
    for render in unanswered:
        stored = await world.repo.get(render.id)
        assert stored is not None and stored.state is RenderState.RENDERING


async def test_no_more_polls_reach_the_api_at_once_than_poll_slots_and_deliveries_still_go(world: World) -> None:
    lane = world.build(status_calls_per_second=1000.0, max_concurrent=3)
    lane.client.gate.clear()  # the gateway is slow to answer status calls
    renders = [await world.render(age=60 + number) for number in range(12)]
    for _ in range(3):
        await world.render(age=200, state=RenderState.SUCCEEDED)

    await lane.tracker.tick()
    await eventually(lambda: lane.client.in_flight == 3 and len(lane.publisher.deliveries) == 3)
    await asyncio.sleep(0.1)
    assert lane.client.most_in_flight == 3

    lane.client.gate.set()
    await eventually(lambda: len(lane.client.asked) == 12)
    assert lane.client.most_in_flight == 3
    assert {task for _, task in lane.client.asked} == {r.task_id for r in renders}


async def test_the_cap_holds_at_the_api_when_slow_answers_keep_every_poll_slot_busy(world: World) -> None:
    lane = world.build(status_calls_per_second=2.0, max_concurrent=2)
    lane.client.gate.clear()
    for number in range(10):
        await world.render(age=60 + number)

    await lane.tracker.tick()
    await eventually(lambda: lane.client.in_flight == 2)
    await drive(world, 2.5)  # the cap's budget keeps coming while both poll slots wait for the answers
    lane.client.gate.set()  # the gateway answers again: polls that waited for a slot go now
    await drive(world, 10.0)

    assert len(lane.client.asked) == 10
    assert busiest_second([moment for moment, _ in lane.client.asked]) <= 2


# ---- the status-call cap is a cap ------------------------------------------------------------------------------


async def test_no_second_has_more_status_calls_than_the_cap(world: World) -> None:
    lane = world.build(status_calls_per_second=5.0)
    for number in range(150):
        await world.render(age=60 + number % 100)

    await drive(world, 30.0)

    moments = [moment for moment, _ in lane.client.asked]
    assert busiest_second(moments) == 5
    assert len(moments) >= 5 * 25  # the budget is used, not just respected


async def test_a_burst_allowance_adds_exactly_its_calls(world: World) -> None:
    lane = world.build(status_calls_per_second=2.0, status_call_burst=1)
    for number in range(40):
        await world.render(age=60 + number)

    await drive(world, 10.0)

    assert busiest_second([moment for moment, _ in lane.client.asked]) == 3


@ON_EVERY_ENGINE
async def test_two_processes_on_one_database_stay_under_the_cap_together(world: World) -> None:
    shares = [
        load_settings(
            {
                "DISCORD_TOKEN": "t",
                "MODELSTREAM_API_KEY": "k",
                "MAX_STATUS_CALLS_PER_SECOND": "5",
                "SHARD_COUNT": "2",
                "SHARD_IDS": shard,
            },
            env_file=None,
        ).status_calls_per_second_here
        for shard in ("0", "1")
    ]
    assert shares == [2.5, 2.5]
    first = world.build(owner="process-0", status_calls_per_second=shares[0])
    second = world.build(owner="process-1", status_calls_per_second=shares[1])
    for number in range(120):
        await world.render(age=60 + number % 100)

    await drive(world, 30.0)

    calls = world.asked()
    assert busiest_second([moment for moment, _ in calls]) <= 5
    # Each process used its own share (2 calls a second each) rather than one holding every render due.
    assert len(first.client.asked) >= 2 * 25
    assert len(second.client.asked) >= 2 * 25


# ---- due order -------------------------------------------------------------------------------------------------


async def test_when_more_are_due_than_the_budget_allows_the_oldest_are_asked_first(world: World) -> None:
    lane = world.build(status_calls_per_second=1.0)
    ages = [70, 300, 20, 150, 90, 240, 10, 45]
    # The youngest has waited longest: the order in which they fell due is not the order they are asked in.
    renders = [await world.render(age=age, due_in=-age / 10) for age in ages]
    task_of = {r.task_id: age for r, age in zip(renders, ages, strict=True)}

    await drive(world, len(ages))

    asked = [task_of[task] for _, task in lane.client.asked[: len(ages)]]
    assert asked == sorted(ages, reverse=True)


async def test_an_older_render_falling_due_goes_ahead_of_younger_ones_already_waiting(world: World) -> None:
    lane = world.build(status_calls_per_second=1.0)
    young = [await world.render(age=30) for _ in range(20)]
    old = [await world.render(age=200, due_in=2.0) for _ in range(3)]

    await drive(world, 8.0)

    tasks = [task for _, task in lane.client.asked]
    assert {r.task_id for r in old} <= set(tasks[:7])
    assert len(set(tasks) & {r.task_id for r in young}) >= 3


async def test_a_young_render_is_still_asked_while_older_ones_would_use_the_whole_budget(world: World) -> None:
    lane = world.build(status_calls_per_second=1.0)
    # Twenty older renders fall due every 10-15 s: asked oldest first they alone would take every call there is.
    for number in range(20):
        await world.render(age=60 + number)
    young = await world.render(age=0, due_in=POLL)

    await drive(world, 180.0, step=1.0)

    assert young.task_id in {task for _, task in lane.client.asked}
