"""The bot's own queue with the real tracker, real storage and the real API client against the fake gateway, on a
fake clock: MAX_RENDERS_AT_API in the fair order, places in line kept across a restart, Cancel while waiting, and
the gateway's concurrency 429 answered by holding the queue rather than by a storm of retries."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import FailureKind, RenderState
from bot.services.cancel import CancelOutcome, CancelService
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi, TaskScript
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, accept_all, video_request
from tests.storage.databases import ENGINES, open_database

MODELS = load_model_table()
POLL = 10.0
ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)
MEMBERS = {name: 100 + index for index, name in enumerate("ABCDEFGHIJ")}
MODERATOR = 999


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def no_sleep(delay: float) -> None:
    return None


@dataclass
class Queue:
    """Trackers (one per process, or per start) on one database, the fake gateway, and a fake clock."""

    db: Database
    api: FakeVideoApi
    client: VideoApiClient
    work: Path
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    trackers: list[Tracker] = field(default_factory=list)

    @property
    def repo(self) -> RenderRepository:
        return RenderRepository(self.db)

    def tracker(self, *, cap: int | None, owner: str = "tracker-a", **config: Any) -> Tracker:
        work_dir = self.work / owner
        work_dir.mkdir(exist_ok=True)
        settings = TrackerConfig(
            owner=owner,
            work_dir=work_dir,
            poll_interval=POLL,
            status_calls_per_second=1_000_000.0,
            max_renders_at_api=cap,
            **config,
        )
        tracker = Tracker(
            self.repo,
            ImageStore(self.db),
            self.client,
            self.publisher,
            settings,
            models=MODELS,
            clock=Clock(now=self.clock, sleep=no_sleep),
        )
        self.trackers.append(tracker)
        return tracker

    async def ask(self, member: str, *, takes: int = 1, guild: int = GUILD) -> list[RenderRecord]:
        """`member` asks for a video (of `takes` takes) now; one second passes."""
        request = video_request(member, takes=takes)
        new = [
            NewRender(guild, CHANNEL, MEMBERS[member], request, 5, 25 * 1024 * 1024, RenderState.ACCEPTED)
            for _ in range(takes)
        ]
        _, records = await self.repo.reserve(new, accept_all, now=self.clock())
        self.clock.now += timedelta(seconds=1)
        return records

    async def drive(self, tracker: Tracker, *, until: Callable[[], bool] | None = None, rounds: int = 400) -> None:
        """Run the tracker, moving the clock to the next moment something is due, until every render is closed
        (or `until` holds)."""
        for _ in range(rounds):
            await tracker.run_until_idle()
            if until is not None and until():
                return
            open_ = [r for r in await self.repo.in_flight() if not r.closed]
            pending = [r for r in await self._unclosed() if r.next_poll_at is not None]
            if not open_ and not pending:
                return
            next_at = min(r.next_poll_at for r in pending if r.next_poll_at is not None)
            self.clock.now = max(self.clock.now + timedelta(seconds=1), next_at)
        raise AssertionError("the renders never all finished")

    async def _unclosed(self) -> list[RenderRecord]:
        return [r for r in await self.repo.recent(GUILD, limit=1000) if not r.closed] + [
            r for r in await self.repo.recent(GUILD + 1, limit=1000) if not r.closed
        ]

    def start_order(self) -> list[str]:
        """Whose renders the gateway took, in the order it took them (the prompt names the member)."""
        return [task.request["prompt"] for task in self.api.tasks.values()]

    def starts_by_twos(self) -> list[list[str]]:
        """The start order in pairs: with two slots, renders of equal length start two at a time, and which of
        a pair's two creates reaches the gateway first is a race the queue does not decide."""
        order = self.start_order()
        return [sorted(order[index : index + 2]) for index in range(0, len(order), 2)]

    async def get(self, render_id: str) -> RenderRecord:
        render = await self.repo.get(render_id)
        assert render is not None
        return render


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
async def queue(db: Database, tmp_path: Path) -> AsyncIterator[Queue]:
    async with FakeVideoApi() as api, aiohttp.ClientSession() as session:
        client = VideoApiClient(
            session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=2), sleep=no_sleep, rand=lambda: 0.5
        )
        yield Queue(db, api, client, tmp_path)


@pytest.fixture(autouse=True)
def no_step_crashes(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    crashes = [r for r in caplog.records if r.name == "bot.services.tracker" and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


# ---- the fair order under MAX_RENDERS_AT_API ---------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_four_takes_do_not_hold_up_six_members_and_the_cap_is_never_passed(queue: Queue) -> None:
    queue.api.concurrency_limit = 2  # the key's own gate: a third render at once would be refused
    tracker = queue.tracker(cap=2)
    await queue.ask("A", takes=4)
    for member in "BCDEFG":
        await queue.ask(member)

    await queue.drive(tracker)

    assert queue.starts_by_twos() == [["A", "B"], ["C", "D"], ["E", "F"], ["A", "G"], ["A", "A"]]
    assert queue.api.concurrency_refusals == 0
    assert len(queue.publisher.deliveries) == 10


async def test_servers_take_turns_before_members_within_one(queue: Queue) -> None:
    tracker = queue.tracker(cap=1)
    for member in "ABC":
        await queue.ask(member)
    await queue.ask("D", guild=GUILD + 1)

    await queue.drive(tracker)

    assert queue.start_order() == ["A", "D", "B", "C"]


@ON_EVERY_ENGINE
async def test_two_processes_share_the_cap(queue: Queue) -> None:
    queue.api.concurrency_limit = 2
    first, second = queue.tracker(cap=2, owner="process-1"), queue.tracker(cap=2, owner="process-2")
    for member in "ABCDEF":
        await queue.ask(member)

    for _ in range(60):
        await first.run_until_idle()
        await second.run_until_idle()
        if len(queue.publisher.deliveries) == 6:
            break
        queue.clock.now += timedelta(seconds=POLL)

    assert len(queue.publisher.deliveries) == 6
    assert queue.api.concurrency_refusals == 0
    assert queue.starts_by_twos() == [["A", "B"], ["C", "D"], ["E", "F"]]


async def test_time_waiting_in_line_does_not_count_against_the_submit_deadline(queue: Queue) -> None:
    tracker = queue.tracker(cap=1, submit_deadline=300.0)
    queue.api.script_next(TaskScript(render_polls=40))  # the first render takes far longer than the deadline
    [slow] = await queue.ask("A")
    [waiting] = await queue.ask("B")

    await queue.drive(tracker)

    slow_done, waited = await queue.get(slow.id), await queue.get(waiting.id)
    assert (slow_done.state, waited.state) == (RenderState.DELIVERED, RenderState.DELIVERED)
    assert waited.ready_at is not None and slow_done.finished_at is not None
    assert waited.ready_at - waited.created_at > timedelta(seconds=300)
    assert waited.ready_at >= slow_done.finished_at


# ---- places in line ----------------------------------------------------------------------------------------


async def test_places_in_line_are_written_and_kept_across_a_restart(queue: Queue) -> None:
    tracker = queue.tracker(cap=1)
    [first] = await queue.ask("A")
    [second] = await queue.ask("B")
    [third] = await queue.ask("C")
    await tracker.run_until_idle()
    assert (await queue.get(first.id)).state is RenderState.QUEUED
    assert [(await queue.get(r.id)).queue_place for r in (second, third)] == [1, 2]
    await tracker.stop()

    restarted = queue.tracker(cap=1, owner="tracker-a")
    await queue.drive(restarted, until=lambda: len(queue.api.tasks) == 2)
    queue.clock.now += timedelta(seconds=5)  # places are written at most every 5 seconds
    await restarted.run_until_idle()

    assert queue.start_order() == ["A", "B"]
    assert [(await queue.get(r.id)).queue_place for r in (second, third)] == [None, 1]
    mine = await queue.repo.waiting_renders(GUILD, MEMBERS["C"])
    assert [(r.id, r.queue_place) for r in mine] == [(third.id, 1)]


def places_shown(queue: Queue, render_id: str) -> list[int | None]:
    """The places in line the render's card showed, post and edits, in order (repeats of one place merged)."""
    shown: list[int | None] = []
    for event in queue.publisher.events:
        render = event.render
        if event.method not in ("post_status", "edit_status") or event.failed or render is None:
            continue
        if render.id == render_id and render.state is RenderState.ACCEPTED and shown[-1:] != [render.queue_place]:
            shown.append(render.queue_place)
    return shown


async def test_the_card_shows_the_place_and_a_jump_within_five_seconds_is_one_edit(queue: Queue) -> None:
    tracker = queue.tracker(cap=1)
    await queue.ask("A")
    ahead = [(await queue.ask(member))[0] for member in "BCDEFGHI"]
    [last] = await queue.ask("J")
    await tracker.run_until_idle()
    assert places_shown(queue, last.id) == [9]
    cancels = CancelService(renders=queue.repo, wake_tracker=tracker.wake, now=queue.clock)
    edits_before = len(queue.publisher.calls("edit_status", render_id=last.id))

    # Six requests ahead of it are cancelled within five seconds: the card goes from 9th to 3rd in one edit.
    for render in ahead[:6]:
        await cancels.cancel(render.id, guild_id=GUILD, user_id=MODERATOR, is_moderator=True)
        await tracker.run_until_idle()
        queue.clock.now += timedelta(seconds=0.5)
    queue.clock.now += timedelta(seconds=2)
    await tracker.run_until_idle()

    assert places_shown(queue, last.id) == [9, 3]
    assert len(queue.publisher.calls("edit_status", render_id=last.id)) == edits_before + 1
    assert (await queue.get(last.id)).queue_place == 3


# ---- Cancel ------------------------------------------------------------------------------------------------


async def test_a_render_cancelled_while_waiting_never_reaches_the_gateway_and_is_refunded(queue: Queue) -> None:
    tracker = queue.tracker(cap=1)
    await queue.ask("A")
    [waiting] = await queue.ask("B")
    await tracker.run_until_idle()
    cancels = CancelService(renders=queue.repo, wake_tracker=tracker.wake, now=queue.clock)

    refused = await cancels.cancel(waiting.id, guild_id=GUILD, user_id=MEMBERS["C"], is_moderator=False)
    done = await cancels.cancel(waiting.id, guild_id=GUILD, user_id=MEMBERS["B"], is_moderator=False)
    await queue.drive(tracker)

    assert refused.outcome is CancelOutcome.NOT_ALLOWED
    assert done.outcome is CancelOutcome.CANCELLED
    cancelled = await queue.get(waiting.id)
    assert (cancelled.state, cancelled.failure_kind, cancelled.decided_by) == (
        RenderState.FAILED,
        FailureKind.CANCELLED,
        MEMBERS["B"],
    )
    assert cancelled.closed
    assert queue.start_order() == ["A"]
    assert (await queue.repo.member_snapshot(GUILD, MEMBERS["B"], queue.clock())).member_used_today == 0
    shown = queue.publisher.calls("edit_status", render_id=waiting.id)[-1].render
    assert shown is not None and shown.failure_kind is FailureKind.CANCELLED


async def test_a_moderator_may_cancel_anyones_waiting_request_but_not_one_already_sent(queue: Queue) -> None:
    tracker = queue.tracker(cap=1)
    [running] = await queue.ask("A")
    [waiting] = await queue.ask("B")
    await tracker.run_until_idle()
    cancels = CancelService(renders=queue.repo, wake_tracker=tracker.wake, now=queue.clock)

    too_late = await cancels.cancel(running.id, guild_id=GUILD, user_id=MEMBERS["A"], is_moderator=False)
    by_moderator = await cancels.cancel(waiting.id, guild_id=GUILD, user_id=MODERATOR, is_moderator=True)
    elsewhere = await cancels.cancel(waiting.id, guild_id=GUILD + 1, user_id=MODERATOR, is_moderator=True)

    assert too_late.outcome is CancelOutcome.TOO_LATE
    assert (await queue.get(running.id)).state is RenderState.QUEUED
    assert by_moderator.outcome is CancelOutcome.CANCELLED
    assert (await queue.get(waiting.id)).decided_by == MODERATOR
    assert elsewhere.outcome is CancelOutcome.UNKNOWN


async def test_a_render_held_for_approval_can_be_cancelled_and_is_never_sent(queue: Queue) -> None:
    tracker = queue.tracker(cap=None)
    request = video_request("A")
    new = NewRender(GUILD, CHANNEL, MEMBERS["A"], request, 5, 1024, RenderState.AWAITING_APPROVAL)
    _, [held] = await queue.repo.reserve([new], accept_all, now=queue.clock())
    cancels = CancelService(renders=queue.repo, wake_tracker=tracker.wake, now=queue.clock)

    result = await cancels.cancel(held.id, guild_id=GUILD, user_id=MEMBERS["A"], is_moderator=False)
    await queue.drive(tracker)

    assert result.outcome is CancelOutcome.CANCELLED
    assert (await queue.get(held.id)).state is RenderState.FAILED
    assert queue.api.create_calls == []


# ---- the gateway's concurrency 429 -------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_the_gateways_concurrency_refusal_holds_the_queue_instead_of_a_storm_of_retries(queue: Queue) -> None:
    """No MAX_RENDERS_AT_API, a key that runs 2 renders at once, 8 requests at once: the first burst finds the
    gateway's limit (6 refusals); after that the bot sends the next render only when one of its own finished."""
    queue.api.concurrency_limit = 2
    queue.api.configure(render_polls=6)  # each render runs for a while: a retrying render would be refused often
    tracker = queue.tracker(cap=None)
    for member in "ABCDEFGH":
        await queue.ask(member)

    await queue.drive(tracker)

    assert len(queue.publisher.deliveries) == 8
    assert queue.api.concurrency_refusals <= 6 + 2
    assert len(queue.api.create_calls) == 8 + queue.api.concurrency_refusals
    failed = [r for r in await queue.repo.recent(GUILD, limit=20) if r.state is RenderState.FAILED]
    assert failed == []
