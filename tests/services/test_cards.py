"""Status card edits sent in the background (`CardEdits`): one at a time per channel, the newest state of each
render, final states first, a finished render closed once its card shows its end; and a tracker step that posts
its clip while the card edits of its channel wait for Discord.

Real storage (SQLite) and the recording publisher; edits wait at a gate the test opens, so what is in flight at
once is seen, never timed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock, utc_now
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.services.cards import CardEdits, StatusCards, card_shown, visible_state
from bot.services.ports import PublishUnavailable
from bot.services.steps import StepContext, TrackerConfig
from bot.services.tracker import Tracker
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import LeasedRenders, RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi, TaskScript
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, T0, add_render
from tests.storage.databases import open_database

OTHER_CHANNEL = CHANNEL + 1
MODELS = load_model_table()
WAIT = 10.0  # seconds: how long a test waits for something the code does at once (a hang fails, nothing is timed)


class GatedPublisher(RecordingPublisher):
    """Card edits wait at a gate until the test opens it; what reaches the gate is announced in `arrived`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Semaphore(0)
        self.arrived: asyncio.Queue[RenderRecord] = asyncio.Queue()
        self.in_flight: Counter[int] = Counter()  # channel -> edits sent and not answered yet
        self.most_in_flight: Counter[int] = Counter()
        self.clip_posted = asyncio.Event()

    def open(self, edits: int = 1) -> None:
        for _ in range(edits):
            self.gate.release()

    async def next_arrival(self) -> RenderRecord:
        return await asyncio.wait_for(self.arrived.get(), WAIT)

    async def edit_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> None:
        channel = render.channel_id
        self.in_flight[channel] += 1
        self.most_in_flight[channel] = max(self.most_in_flight[channel], self.in_flight[channel])
        self.arrived.put_nowait(render)
        try:
            await self.gate.acquire()
            await super().edit_status(render, group)
        finally:
            self.in_flight[channel] -= 1

    async def deliver_file(self, render: RenderRecord, path: Path, filename: str, **where: Any) -> int:
        message_id = await super().deliver_file(render, path, filename, **where)
        self.clip_posted.set()
        return message_id


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    repo: RenderRepository
    publisher: GatedPublisher
    edits: CardEdits
    clock: FakeClock

    async def render(self, state: RenderState = RenderState.RENDERING, *, channel_id: int = CHANNEL) -> RenderRecord:
        """A render in `state` whose card shows it (posted, as accept() posts it)."""
        [render] = await add_render(self.repo, now=self.clock(), channel_id=channel_id, state=state)
        await self.repo.set_first_status_message(
            render.id, 700_000 + len(self.publisher.events), now=self.clock(), shown_hash=visible_state(render)
        )
        return await self.get(render.id)

    async def settled(self) -> None:
        """Every edit asked for is sent (a hang fails the test instead of stalling it)."""
        await asyncio.wait_for(self.edits.drain(), WAIT)

    async def get(self, render_id: str) -> RenderRecord:
        render = await self.repo.get(render_id)
        assert render is not None
        return render

    async def progress(self, render: RenderRecord, percent: int) -> RenderRecord:
        await self.repo.update(render.id, now=self.clock(), progress=percent)
        return await self.get(render.id)

    async def move(self, render: RenderRecord, *states: RenderState) -> RenderRecord:
        for state in states:
            moved = await self.repo.move(render.id, state, now=self.clock(), finished_at=self.clock())
            assert moved is not None, f"{render.state} -> {state}"
        return await self.get(render.id)

    def shown(self, render_id: str) -> list[tuple[RenderState, int | None]]:
        """What the card was edited to show, in order: (state, progress)."""
        return [
            (e.render.state, e.render.progress) for e in self.publisher.edits if e.render and e.render.id == render_id
        ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database("sqlite", tmp_path) as database:
        yield database


def step_context(repo: RenderRepository, db: Database, publisher: RecordingPublisher, clock: FakeClock) -> StepContext:
    config = TrackerConfig(owner="cards-test", work_dir=Path("unused"))
    return StepContext(
        renders=LeasedRenders(repo, config.owner),
        images=ImageStore(db),
        api=None,  # type: ignore[arg-type]  # card edits never call the video API
        publisher=publisher,
        config=config,
        models=MODELS,
        clock=Clock(now=clock),
    )


@pytest.fixture
async def world(db: Database) -> AsyncIterator[World]:
    repo = RenderRepository(db)
    publisher = GatedPublisher()
    clock = FakeClock()
    cards = StatusCards(step_context(repo, db, publisher, clock), repo)
    edits = CardEdits(cards, repo, clock=Clock(now=clock))
    yield World(repo, publisher, edits, clock)
    publisher.open(1000)  # nothing left hanging at the gate
    await edits.stop(grace=WAIT)


# ---- in the background, one at a time per channel ----------------------------------------------------------------


async def test_asking_for_an_edit_returns_before_it_is_sent(world: World) -> None:
    render = await world.progress(await world.render(), 40)

    world.edits.request(render)  # not awaited: a step goes on at once

    assert (await world.publisher.next_arrival()).id == render.id
    assert world.publisher.edits == []  # still at Discord's door
    world.publisher.open()
    await world.settled()
    assert world.shown(render.id) == [(RenderState.RENDERING, 40)]
    assert card_shown(await world.get(render.id))


async def test_a_channel_has_one_edit_in_flight_while_other_channels_go_their_own_pace(world: World) -> None:
    here = [await world.progress(await world.render(), 10 + n) for n in range(3)]
    there = await world.progress(await world.render(channel_id=OTHER_CHANNEL), 50)

    for render in [*here, there]:
        world.edits.request(render)
    first, second = await world.publisher.next_arrival(), await world.publisher.next_arrival()

    # The other channel's edit did not wait behind this channel's, and this channel's others wait their turn.
    assert {first.id, second.id} == {here[0].id, there.id}
    assert world.edits.waiting == 2
    world.publisher.open(4)
    await world.settled()
    assert world.publisher.most_in_flight == {CHANNEL: 1, OTHER_CHANNEL: 1}
    assert [e.render.id for e in world.publisher.edits if e.render and e.render.channel_id == CHANNEL] == [
        r.id for r in here
    ]


# ---- the newest state, final states first -----------------------------------------------------------------------


async def test_states_that_changed_while_waiting_are_never_sent_only_the_newest(world: World) -> None:
    ahead = await world.progress(await world.render(), 20)
    render = await world.render()
    world.edits.request(ahead)
    await world.publisher.next_arrival()  # the channel's budget is taken: the rest waits

    for percent in (30, 60, 90):
        world.edits.request(await world.progress(render, percent))
    world.publisher.open(2)
    await world.settled()

    assert world.shown(render.id) == [(RenderState.RENDERING, 90)]


async def test_an_edit_that_waited_sends_the_state_of_the_render_when_it_goes(world: World) -> None:
    ahead = await world.progress(await world.render(), 20)
    render = await world.progress(await world.render(), 30)
    world.edits.request(ahead)
    await world.publisher.next_arrival()

    world.edits.request(render)
    # Changed by a step that has not asked yet (it will): the edit shows the render as it is, not as it was asked.
    await world.move(render, RenderState.SUCCEEDED)
    world.publisher.open(2)
    await world.settled()

    assert world.shown(render.id) == [(RenderState.SUCCEEDED, 30)]


async def test_final_states_go_before_progress(world: World) -> None:
    ahead = await world.progress(await world.render(), 5)
    world.edits.request(ahead)
    await world.publisher.next_arrival()
    rendering = await world.progress(await world.render(), 70)
    done = await world.move(await world.render(RenderState.SUCCEEDED), RenderState.DELIVERED)
    failed = await world.move(await world.render(), RenderState.FAILED)

    for render in (rendering, done, failed):
        world.edits.request(render)
    world.publisher.open(4)
    await world.settled()

    assert [e.render.id for e in world.publisher.edits if e.render] == [ahead.id, done.id, failed.id, rendering.id]


# ---- closing, and cards that can't be shown now -----------------------------------------------------------------


async def test_a_finished_render_is_closed_once_its_card_shows_the_end_and_not_before(world: World) -> None:
    render = await world.move(await world.render(RenderState.SUCCEEDED), RenderState.DELIVERED)

    world.edits.request(render)
    await world.publisher.next_arrival()
    assert not (await world.get(render.id)).closed  # the member does not see "Done" yet
    world.publisher.open()
    await world.settled()

    after = await world.get(render.id)
    assert after.closed and card_shown(after)
    assert world.shown(render.id) == [(RenderState.DELIVERED, after.progress)]


async def test_a_render_still_running_is_not_closed(world: World) -> None:
    render = await world.progress(await world.render(), 45)

    world.edits.request(render)
    world.publisher.open()
    await world.settled()

    assert not (await world.get(render.id)).closed


async def test_a_card_discord_refuses_for_now_is_left_to_the_renders_next_step(world: World) -> None:
    render = await world.move(await world.render(RenderState.SUCCEEDED), RenderState.DELIVERED)
    world.publisher.fail_next("edit_status", PublishUnavailable("HTTP 503"))
    world.publisher.open(2)

    world.edits.request(render)
    await world.settled()

    not_yet = await world.get(render.id)
    assert (not_yet.closed, card_shown(not_yet)) == (False, False)
    assert len(world.publisher.calls("edit_status", succeeded_only=False)) == 1  # no retry loop against Discord

    world.edits.request(not_yet)  # what the next step does
    await world.settled()

    assert (await world.get(render.id)).closed
    assert world.shown(render.id) == [(RenderState.DELIVERED, not_yet.progress)]


async def test_after_stop_nothing_more_is_sent(world: World) -> None:
    render = await world.progress(await world.render(), 15)
    await world.edits.stop(grace=WAIT)

    world.edits.request(render)
    await world.settled()

    assert world.publisher.calls("edit_status", succeeded_only=False) == []
    assert not card_shown(await world.get(render.id))  # left for the next start


# ---- the tracker: a clip never waits behind its channel's card edits ---------------------------------------------


async def test_the_clip_is_posted_while_its_cards_edit_waits_for_discord(db: Database, tmp_path: Path) -> None:
    repo = RenderRepository(db)
    publisher = GatedPublisher()
    async with FakeVideoApi() as api, aiohttp.ClientSession() as session:
        task_id = api.add_task(script=TaskScript(render_polls=0, video_size=64 * 1024))
        now = utc_now()
        [render] = await add_render(repo, now=now, state=RenderState.RENDERING)
        await repo.update(render.id, now=now, task_id=task_id, submitted_at=now - timedelta(seconds=30), progress=80)
        shown = await repo.get(render.id)
        assert shown is not None
        await repo.set_first_status_message(render.id, 700_001, now=now, shown_hash=visible_state(shown))
        client = VideoApiClient(session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=2))
        config = TrackerConfig(owner="clips-first", work_dir=tmp_path / "work", status_calls_per_second=1000.0)
        tracker = Tracker(repo, ImageStore(db), client, publisher, config, models=MODELS)
        running = asyncio.create_task(tracker.run())
        try:
            edit = await publisher.next_arrival()  # "finishing": held at Discord's door
            await asyncio.wait_for(publisher.clip_posted.wait(), WAIT)

            assert edit.id == render.id and edit.state is RenderState.SUCCEEDED
            assert publisher.in_flight[CHANNEL] == 1 and publisher.edits == []  # the card still waits
            publisher.open(10)
            await tracker.stop(grace=WAIT)
        finally:
            publisher.open(10)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    final = await repo.get(render.id)
    assert final is not None and final.closed and final.state is RenderState.DELIVERED
    assert publisher.edits[-1].render is not None and publisher.edits[-1].render.state is RenderState.DELIVERED
