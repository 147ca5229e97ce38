"""The tracker on real storage and the real API client, against the fake gateway, with a fake clock.

Each test drives `Tracker.run_until_idle()` at a fixed moment and moves the clock to the render's next poll
time itself, so nothing waits for real time and every decision the tracker writes can be read back.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.errors import RequestValidationError
from bot.domain.models import SHIPPED_MODELS, ModelTable, load_model_table, parse_model_table
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import (
    AspectRatio,
    ChannelDefaults,
    GenerationMode,
    ImageRole,
    ImageSlot,
    QualityMode,
    RawOptions,
    VideoRequest,
)
from bot.domain.states import FailureKind, RenderState
from bot.domain.validation import validate_options
from bot.services.delivery import MAX_DOWNLOAD_ATTEMPTS as MAX_DELIVERY_ATTEMPTS
from bot.services.generation import GenerationService
from bot.services.lifecycle import APPROVAL_RECHECK, APPROVAL_TIMEOUT, ASK_GRACE, MAX_SUBMIT_ATTEMPTS
from bot.services.ports import ChannelGone, MessageGone, PublishUnavailable, UploadTooLarge
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes import video_api as fake_video_api
from tests.fakes.video_api import FakeVideoApi
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request
from tests.storage.databases import ENGINES, open_database

MB = 1024 * 1024
POLL = 10.0
VIDEO_SIZE = 256 * 1024
MODELS = load_model_table()


ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def no_sleep(delay: float) -> None:
    return None


@dataclass
class Harness:
    """One tracker with everything it talks to, plus the helpers the tests share."""

    tracker: Tracker
    repo: RenderRepository
    images: ImageStore
    api: FakeVideoApi
    publisher: RecordingPublisher
    clock: FakeClock
    holds: ModelHolds

    async def add(
        self,
        request: VideoRequest | None = None,
        *,
        upload_limit: int = 25 * MB,
        state: RenderState = RenderState.ACCEPTED,
        cost: int = 5,
    ) -> RenderRecord:
        new = NewRender(GUILD, CHANNEL, USER, request or video_request(), cost, upload_limit, state)
        _, [render] = await self.repo.reserve([new], accept_all, now=self.clock())
        return render

    async def get(self, render_id: str) -> RenderRecord:
        render = await self.repo.get(render_id)
        assert render is not None
        return render

    async def run(self) -> None:
        """Everything due at the current moment (read the renders back with `get`)."""
        await self.tracker.run_until_idle()

    async def next_round(self, render_id: str) -> RenderRecord:
        """Move the clock to when the render is due again and let the tracker do what it does then."""
        render = await self.get(render_id)
        assert render.next_poll_at is not None
        self.clock.now = max(self.clock.now, render.next_poll_at)
        await self.tracker.run_until_idle()
        return await self.get(render_id)

    async def until(self, render_id: str, done: Callable[[RenderRecord], bool], *, rounds: int = 200) -> RenderRecord:
        await self.tracker.run_until_idle()
        render = await self.get(render_id)
        for _ in range(rounds):
            if done(render):
                return render
            render = await self.next_round(render_id)
        raise AssertionError(f"render never got there; it is {render.state.value}")

    async def finish(self, render_id: str) -> RenderRecord:
        return await self.until(render_id, lambda r: r.closed)

    def wait_of(self, render: RenderRecord) -> timedelta:
        """How long from now until the tracker looks at `render` again."""
        assert render.next_poll_at is not None
        return render.next_poll_at - self.clock.now

    async def used_credits(self) -> int:
        return (await self.repo.member_snapshot(GUILD, USER, self.clock())).member_used_today

    def seen_states(self, render_id: str) -> list[RenderState]:
        """The states the status message showed, post or edit, in order."""
        shown = [
            e.render.state
            for e in self.publisher.events
            if e.method in ("post_status", "edit_status") and not e.failed and e.render and e.render.id == render_id
        ]
        return shown


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite; tests whose outcome may depend on the engine also run on PostgreSQL (`@ON_EVERY_ENGINE`)."""
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
async def api() -> AsyncIterator[FakeVideoApi]:
    async with FakeVideoApi() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def make_harness(
    db: Database, api: FakeVideoApi, session: aiohttp.ClientSession, tmp_path: Path
) -> Callable[..., Harness]:
    clock = FakeClock(T0)
    repo = RenderRepository(db)
    images = ImageStore(db)
    holds = ModelHolds(db)
    client = VideoApiClient(
        session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=2), sleep=no_sleep, rand=lambda: 0.5
    )

    def build(
        *,
        owner: str = "tracker-a",
        publisher: RecordingPublisher | None = None,
        models: ModelTable | None = None,
        **config: Any,
    ) -> Harness:
        work_dir = tmp_path / f"work-{owner}"
        work_dir.mkdir(exist_ok=True)
        settings = TrackerConfig(
            owner=owner,
            work_dir=work_dir,
            poll_interval=POLL,
            render_timeout=3600.0,
            # High enough that the real token bucket never sleeps; test_pacing covers the bucket itself.
            status_calls_per_second=1_000_000.0,
        )
        settings = replace(settings, **config)
        publisher = publisher or RecordingPublisher()
        tracker = Tracker(
            repo,
            images,
            client,
            publisher,
            settings,
            models=models or MODELS,
            clock=Clock(now=clock, sleep=no_sleep),
            holds=holds,
        )
        return Harness(tracker, repo, images, api, publisher, clock, holds)

    return build


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture(autouse=True)
def no_step_crashes(caplog: pytest.LogCaptureFixture) -> Any:
    """A step that raises is only logged by the tracker; here it must fail the test."""
    caplog.set_level(logging.INFO)
    yield
    crashes = [r for r in caplog.records if r.name == "bot.services.tracker" and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


# ---- the happy path -------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_accepted_render_is_submitted_rendered_delivered_and_closed(harness: Harness) -> None:
    render = await harness.add()

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert harness.seen_states(render.id) == [
        RenderState.QUEUED,
        RenderState.RENDERING,
        RenderState.SUCCEEDED,
        RenderState.DELIVERED,
    ]
    [delivery] = harness.publisher.deliveries
    assert (delivery.method, delivery.details["size"]) == ("deliver_file", VIDEO_SIZE)
    assert done.result_message_id == delivery.message_id
    assert len(harness.api.create_calls) == 1


async def test_submission_records_the_task_and_schedules_the_first_poll(harness: Harness) -> None:
    render = await harness.add()

    await harness.run()

    queued = await harness.get(render.id)
    assert queued.state is RenderState.QUEUED
    assert queued.task_id in harness.api.tasks
    assert queued.submitted_at == T0
    assert queued.next_poll_at == T0 + timedelta(seconds=POLL)


async def test_first_look_posts_the_status_message_when_none_exists(harness: Harness) -> None:
    render = await harness.add()

    await harness.run()

    [post] = harness.publisher.posts
    assert (await harness.get(render.id)).status_message_id == post.message_id


async def test_delivered_clip_file_is_named_after_the_prompt(harness: Harness) -> None:
    render = await harness.add(video_request("A red fox, running!"))

    await harness.finish(render.id)

    [delivery] = harness.publisher.deliveries
    assert delivery.details["filename"] == f"a-red-fox-running-{render.id[:8]}.mp4"


async def test_closed_render_is_never_looked_at_again(harness: Harness) -> None:
    render = await harness.add()
    await harness.finish(render.id)
    events = len(harness.publisher.events)
    requests = len(harness.api.requests)

    harness.clock.advance(3600)
    await harness.run()

    assert (len(harness.publisher.events), len(harness.api.requests)) == (events, requests)


async def test_clip_file_is_removed_from_the_work_dir_after_upload(harness: Harness, tmp_path: Path) -> None:
    render = await harness.add()

    await harness.finish(render.id)

    assert [
        path.name for path in (tmp_path / "work-tracker-a").rglob("*") if path.is_file() and ".mp4" in path.name
    ] == []


# ---- the status message ---------------------------------------------------------------------------------


async def test_polling_an_unchanged_render_edits_nothing(harness: Harness) -> None:
    harness.api.configure(render_polls=12)
    render = await harness.add()
    rendering = await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    assert rendering.task_id is not None
    edits = len(harness.publisher.edits)
    calls = harness.api.status_calls(rendering.task_id)

    for _ in range(8):
        await harness.next_round(render.id)

    assert harness.api.status_calls(rendering.task_id) == calls + 8
    assert len(harness.publisher.edits) == edits


async def test_progress_change_while_rendering_is_shown(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.api.configure(render_polls=12, shape="B")  # shape B reports progress: 30 % while running
    render = await harness.add()
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    edits = len(harness.publisher.edits)

    monkeypatch.setitem(fake_video_api._PROGRESS, "running", 55)
    after = await harness.next_round(render.id)

    assert after.progress == 55
    assert len(harness.publisher.edits) == edits + 1
    shown = harness.publisher.edits[-1].render
    assert shown is not None and shown.progress == 55


async def test_deleted_status_message_is_posted_again(harness: Harness) -> None:
    render = await harness.add()
    await harness.run()
    harness.publisher.fail_next("edit_status", MessageGone("10008"))

    # The first edit after the post (queued -> rendering) finds the message gone.
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)

    [_, second] = harness.publisher.posts
    assert second.render is not None and second.render.state is RenderState.RENDERING
    assert (await harness.get(render.id)).status_message_id == second.message_id


async def test_status_not_shown_yet_keeps_a_finished_render_open_until_it_is(harness: Harness) -> None:
    harness.api.fail_next("create", "500")
    harness.publisher.fail_next("post_status", PublishUnavailable("HTTP 503"))
    render = await harness.add()

    await harness.run()
    failed = await harness.get(render.id)
    assert (failed.state, failed.closed) == (RenderState.FAILED, False)
    assert harness.wait_of(failed) == timedelta(seconds=POLL)  # not "at once", again and again
    assert len(harness.publisher.calls("post_status", succeeded_only=False)) == 1

    closed = await harness.next_round(render.id)

    assert closed.closed
    assert harness.seen_states(render.id) == [RenderState.FAILED]


# ---- submission ---------------------------------------------------------------------------------------


async def test_render_found_submitting_after_a_crash_fails_as_lost_submit_without_a_create(
    harness: Harness,
) -> None:
    render = await harness.add()
    await harness.repo.move(render.id, RenderState.SUBMITTING, now=T0)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.LOST_SUBMIT)
    assert harness.api.create_calls == []
    assert await harness.used_credits() == 0


async def test_rate_limited_create_goes_back_to_accepted_and_waits(harness: Harness) -> None:
    harness.api.fail_next("create", "429", times=2)  # both attempts the client makes
    render = await harness.add()

    await harness.run()

    waiting = await harness.get(render.id)
    assert (waiting.state, waiting.task_id) == (RenderState.ACCEPTED, None)
    assert waiting.next_poll_at == T0 + timedelta(seconds=POLL)
    assert harness.api.tasks == {}


async def test_rate_limited_create_is_retried_later_and_delivered_as_one_task(harness: Harness) -> None:
    harness.api.fail_next("create", "429", times=2)
    render = await harness.add()

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert len(harness.api.tasks) == 1
    assert len(harness.api.create_calls) == 3
    assert len(harness.publisher.deliveries) == 1


async def test_repeated_rate_limits_wait_longer_each_time(harness: Harness) -> None:
    harness.api.fail_next("create", "429", times=4)
    render = await harness.add()
    await harness.run()
    first_wait = harness.wait_of(await harness.get(render.id))

    second = await harness.next_round(render.id)

    assert second.state is RenderState.ACCEPTED
    assert harness.wait_of(second) > first_wait


async def test_render_the_api_never_takes_fails_at_the_submit_deadline_refunded(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(submit_deadline=600.0)
    harness.api.fail_next("create", "429", times=1000)
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind, done.failure_detail) == (
        RenderState.FAILED,
        FailureKind.SUBMIT_DEADLINE,
        "10 minutes",
    )
    assert harness.clock.now - T0 < timedelta(seconds=600 + 301)  # no retry planned past the deadline's next look
    assert await harness.used_credits() == 0
    tries = len(harness.api.create_calls)
    harness.clock.advance(3600)
    await harness.run()
    assert len(harness.api.create_calls) == tries


@ON_EVERY_ENGINE
async def test_create_server_error_fails_refunded_and_is_never_retried(harness: Harness) -> None:
    harness.api.fail_next("create", "500")
    render = await harness.add()

    done = await harness.finish(render.id)
    harness.clock.advance(3600)
    await harness.run()

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.API_UNAVAILABLE)
    assert await harness.used_credits() == 0
    assert len(harness.api.create_calls) == 1


async def test_credits_are_held_while_the_render_is_in_flight(harness: Harness) -> None:
    render = await harness.add(cost=7)

    await harness.run()

    assert (await harness.get(render.id)).state is RenderState.QUEUED
    assert await harness.used_credits() == 7


async def test_create_bad_request_fails_with_the_api_message(harness: Harness) -> None:
    harness.api.fail_next("create", "400-kling")
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.API_REJECTED)
    assert done.failure_detail == "Invalid image: image size is too small"
    assert harness.seen_states(render.id)[-1] is RenderState.FAILED


@pytest.mark.parametrize("fault", ["402-quota", "403-quota"])
async def test_create_refused_for_lack_of_credit_fails_as_no_credit(harness: Harness, fault: str) -> None:
    harness.api.fail_next("create", fault)
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.NO_CREDIT)
    assert await harness.used_credits() == 0


async def test_stored_images_are_sent_with_the_create_call(harness: Harness) -> None:
    data = b"\x89PNG fake first frame"
    await harness.images.put("a" * 64, data, "image/png")
    request = VideoRequest(
        prompt="the fox starts running",
        generation_mode=GenerationMode.IMAGE,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "a" * 64),),
    )
    await harness.add(request)

    await harness.run()

    [create] = harness.api.create_calls
    assert create.json["image"] == base64.b64encode(data).decode()


async def test_missing_stored_images_fail_the_render_without_a_create(harness: Harness) -> None:
    request = replace(
        video_request(),
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "b" * 64),),
    )
    render = await harness.add(request)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.INPUT_MISSING)
    assert harness.api.create_calls == []


async def test_held_render_is_not_submitted(harness: Harness) -> None:
    render = await harness.add(state=RenderState.AWAITING_APPROVAL)

    await harness.run()

    held = await harness.get(render.id)
    assert (held.state, held.closed) == (RenderState.AWAITING_APPROVAL, False)
    assert held.next_poll_at == T0 + ASK_GRACE
    assert harness.api.create_calls == []


async def test_held_request_whose_moderators_were_never_asked_is_posted_for_approval(harness: Harness) -> None:
    render = await harness.add(state=RenderState.AWAITING_APPROVAL)
    await harness.run()  # within the grace, accept() is presumed to be asking them

    held = await harness.next_round(render.id)

    (asked,) = harness.publisher.calls("post_approval_request", render_id=render.id)
    assert asked.details["channel_id"] == CHANNEL  # no moderator channel configured: the request's channel
    assert held.approval_message_id is not None
    assert held.next_poll_at == harness.clock.now + APPROVAL_RECHECK
    assert harness.api.create_calls == []


async def test_held_request_nobody_decides_expires_refunded(harness: Harness) -> None:
    render = await harness.add(state=RenderState.AWAITING_APPROVAL)
    harness.clock.now = T0 + APPROVAL_TIMEOUT + timedelta(seconds=1)

    await harness.run()

    expired = await harness.get(render.id)
    assert (expired.state, expired.failure_kind) == (RenderState.FAILED, FailureKind.APPROVAL_EXPIRED)
    assert await harness.used_credits() == 0
    assert harness.api.create_calls == []


async def test_expired_held_request_closes_the_moderators_message(harness: Harness) -> None:
    render = await harness.add(state=RenderState.AWAITING_APPROVAL)
    harness.clock.now = T0 + ASK_GRACE + timedelta(seconds=1)
    await harness.run()  # the moderators are asked
    asked = await harness.get(render.id)
    assert asked.approval_message_id is not None
    harness.clock.now = T0 + APPROVAL_TIMEOUT + timedelta(seconds=1)

    await harness.run()

    [closed] = harness.publisher.calls("close_approval_request")
    assert closed.details["message_id"] == asked.approval_message_id
    assert closed.render is not None and closed.render.failure_kind is FailureKind.APPROVAL_EXPIRED


# ---- polling ------------------------------------------------------------------------------------------


async def test_render_failure_at_the_api_fails_with_its_reason_refunded(harness: Harness) -> None:
    harness.api.configure(outcome="failure")
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.RENDER_FAILED)
    assert done.failure_detail == "The content did not pass the safety review"
    assert await harness.used_credits() == 0
    assert harness.publisher.deliveries == []


async def test_render_that_never_finishes_times_out_refunded(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(render_timeout=300.0)
    harness.api.configure(outcome="stuck")
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.TIMEOUT)
    assert done.finished_at is not None
    assert done.finished_at - T0 > timedelta(seconds=300)
    assert await harness.used_credits() == 0


async def test_render_times_out_only_after_the_api_says_it_is_still_unfinished(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(render_timeout=120.0)
    harness.api.configure(outcome="stuck")
    render = await harness.add()
    await harness.run()
    queued = await harness.get(render.id)
    assert queued.task_id is not None
    calls = harness.api.status_calls(queued.task_id)

    harness.clock.advance(130)
    done = await harness.next_round(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.TIMEOUT)
    assert harness.api.status_calls(queued.task_id) == calls + 1


async def test_time_the_bot_was_down_does_not_count_against_a_render(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(render_timeout=600.0)
    harness.api.configure(outcome="stuck")
    render = await harness.add()
    await harness.run()

    harness.clock.advance(5 * 3600)  # the bot was down for five hours
    after = await harness.next_round(render.id)

    assert after.state in (RenderState.QUEUED, RenderState.RENDERING)
    assert after.api_seconds <= 300


async def test_a_clip_finished_during_a_long_outage_is_still_delivered(harness: Harness) -> None:
    harness.api.configure(render_polls=2)
    render = await harness.add()
    await harness.run()
    harness.api.fail_next("status", "500", times=3)
    for _ in range(3):
        harness.clock.advance(3600)  # the API unreachable for hours
        await harness.next_round(render.id)

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert len(harness.publisher.deliveries) == 1


async def test_one_tick_claims_new_work_apart_from_polls(make_harness: Callable[..., Harness]) -> None:
    # A claim of one: with one claim for everything the due poll would take it, and the new request would wait.
    harness = make_harness(claim_batch=1)
    polled = await harness.add()
    await harness.run()
    harness.clock.advance(POLL)
    fresh = await harness.add()

    started = await harness.tracker.tick()
    await harness.run()

    assert started == 2
    assert (await harness.get(fresh.id)).state is RenderState.QUEUED
    assert harness.api.status_calls((await harness.get(polled.id)).task_id or "") == 1


async def test_status_calls_made_counts_every_call_the_api_received(harness: Harness) -> None:
    harness.api.configure(render_polls=3)
    renders = [await harness.add() for _ in range(3)]

    for render in renders:
        await harness.finish(render.id)

    received = sum(harness.api.status_calls(r.task_id or "") for r in [await harness.get(r.id) for r in renders])
    assert harness.tracker.status_calls_made == received == 3 * 4


async def test_unknown_task_right_after_submit_is_tolerated(harness: Harness) -> None:
    render = await harness.add()
    await harness.run()
    queued = await harness.get(render.id)
    assert queued.task_id is not None
    task = harness.api.tasks.pop(queued.task_id)  # an older gateway that does not list the task yet

    still = await harness.next_round(render.id)
    assert (still.state, still.failure_kind) == (RenderState.QUEUED, None)

    harness.api.tasks[task.task_id] = task
    done = await harness.finish(render.id)
    assert done.state is RenderState.DELIVERED


async def test_task_unknown_for_long_fails_the_render(harness: Harness) -> None:
    render = await harness.add()
    await harness.run()
    queued = await harness.get(render.id)
    assert queued.task_id is not None
    harness.api.tasks.pop(queued.task_id)

    harness.clock.advance(11 * 60)
    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.RENDER_FAILED)


async def test_status_server_errors_are_retried_with_backoff(harness: Harness) -> None:
    render = await harness.add()
    await harness.run()
    harness.api.fail_next("status", "500")
    asked = len(harness.api.calls("GET", "/v1/video/generations/"))

    after = await harness.next_round(render.id)

    # One attempt per step: a retry inside the client would be a status call the per-second cap never saw.
    assert len(harness.api.calls("GET", "/v1/video/generations/")) == asked + 1
    assert after.state is RenderState.QUEUED
    assert after.attempts == 1
    assert after.next_poll_at == harness.clock.now + timedelta(seconds=POLL)
    done = await harness.finish(render.id)
    assert done.state is RenderState.DELIVERED


@pytest.mark.parametrize(
    ("age", "wait"),
    [(60, 10.0), (300, 15.0), (900, 30.0), (2400, 60.0)],
)
async def test_poll_cadence_slows_as_the_render_ages(
    make_harness: Callable[..., Harness], age: float, wait: float
) -> None:
    harness = make_harness(render_timeout=7200.0)
    harness.api.configure(outcome="stuck")
    render = await harness.add()
    await harness.run()

    # Asked every minute meanwhile: the cadence follows the time the API was seen working on the render.
    for _ in range(int(age // 60)):
        harness.clock.advance(60)
        await harness.run()

    polled = await harness.get(render.id)
    assert polled.next_poll_at == harness.clock.now + timedelta(seconds=wait)


# ---- delivery -----------------------------------------------------------------------------------------


async def test_clip_already_posted_before_a_crash_is_adopted_not_uploaded_again(harness: Harness) -> None:
    render = await harness.add()
    # The previous process got as far as posting the clip (posting_since recorded), then died before DELIVERED.
    now = harness.clock()
    await harness.repo.move(render.id, RenderState.SUBMITTING, now=now)
    await harness.repo.move(render.id, RenderState.QUEUED, now=now, task_id="task_gone", submitted_at=now)
    await harness.repo.move(render.id, RenderState.SUCCEEDED, now=now, video_url=f"{harness.api.base_url}/files/x.mp4")
    await harness.repo.update(render.id, now=now, posting_since=now)
    harness.publisher.existing_deliveries[render.id] = 4242

    done = await harness.finish(render.id)

    assert (done.state, done.result_message_id) == (RenderState.DELIVERED, 4242)
    assert harness.publisher.deliveries == []
    assert harness.api.calls("GET", "/files/") == []


async def test_a_first_delivery_does_not_search_the_channel_for_an_earlier_one(harness: Harness) -> None:
    render = await harness.add()

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert harness.publisher.calls("find_delivery", succeeded_only=False) == []


async def test_upload_refused_as_too_large_falls_back_to_a_link(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", UploadTooLarge("413"))
    render = await harness.add()

    done = await harness.finish(render.id)

    [link] = harness.publisher.deliveries
    assert link.method == "deliver_link"
    assert link.details["url"] == done.video_url is not None
    assert (done.state, done.result_message_id) == (RenderState.DELIVERED, link.message_id)


async def test_passing_upload_failure_keeps_the_clip_and_posts_it_later(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", PublishUnavailable("HTTP 503"))
    render = await harness.add()

    waiting = await harness.until(render.id, lambda r: r.state is RenderState.SUCCEEDED)
    assert waiting.next_poll_at == harness.clock.now + timedelta(seconds=POLL)
    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert [d.method for d in harness.publisher.deliveries] == ["deliver_file"]


async def test_passing_failure_to_post_a_link_keeps_the_clip_and_posts_it_later(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_link", PublishUnavailable("HTTP 503"))
    render = await harness.add(upload_limit=VIDEO_SIZE // 2)

    waiting = await harness.until(render.id, lambda r: r.state is RenderState.SUCCEEDED)
    assert waiting.next_poll_at == harness.clock.now + timedelta(seconds=POLL)
    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]


async def test_clip_over_the_upload_limit_is_linked_without_uploading(harness: Harness) -> None:
    render = await harness.add(upload_limit=VIDEO_SIZE // 2)

    done = await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]
    assert harness.publisher.calls("deliver_file", succeeded_only=False) == []
    assert done.state is RenderState.DELIVERED


async def test_clip_over_the_bots_own_clip_cap_is_linked(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(max_clip_bytes=VIDEO_SIZE - 1)
    render = await harness.add()

    await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]


async def test_gone_channel_tells_the_requester_by_dm_and_closes(harness: Harness) -> None:
    render = await harness.add()
    await harness.run()
    harness.publisher.gone_channels.add(CHANNEL)

    done = await harness.finish(render.id)

    assert (done.state, done.closed) == (RenderState.DELIVERED, True)
    [dm] = harness.publisher.dms
    assert dm.details["url"] == done.video_url is not None
    assert harness.publisher.deliveries == []
    assert harness.api.calls("GET", "/files/") == []  # nothing to upload it to: not even fetched


async def test_channel_gone_at_upload_tells_the_requester_by_dm(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", ChannelGone("10003"))
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.closed) == (RenderState.DELIVERED, True)
    assert [dm.details["url"] for dm in harness.publisher.dms] == [done.video_url]


async def test_failure_in_a_gone_channel_is_told_by_dm_without_a_link(harness: Harness) -> None:
    harness.api.configure(outcome="failure")
    render = await harness.add()
    await harness.run()
    harness.publisher.gone_channels.add(CHANNEL)

    done = await harness.finish(render.id)

    assert (done.state, done.closed) == (RenderState.FAILED, True)
    assert [dm.details["url"] for dm in harness.publisher.dms] == [None]


# ---- leases -------------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_two_trackers_never_process_the_same_render(make_harness: Callable[..., Harness]) -> None:
    first = make_harness(owner="tracker-a", claim_batch=3)
    second = make_harness(owner="tracker-b", claim_batch=3)
    renders = [await first.add() for _ in range(6)]

    await asyncio.gather(first.tracker.run_until_idle(), second.tracker.run_until_idle())

    seen_by_first = {e.render.id for e in first.publisher.posts if e.render}
    seen_by_second = {e.render.id for e in second.publisher.posts if e.render}
    assert seen_by_first.isdisjoint(seen_by_second)
    assert seen_by_first | seen_by_second == {r.id for r in renders}
    assert len(first.publisher.posts) + len(second.publisher.posts) == 6
    assert len(first.api.create_calls) == 6


@ON_EVERY_ENGINE
async def test_render_leased_by_a_dead_process_is_taken_over_once_the_lease_expires(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(owner="tracker-b", lease_seconds=60.0)
    render = await harness.add()
    await harness.repo.claim_due("tracker-a", now=T0, limit=10, lease_seconds=60.0)

    await harness.run()
    assert (await harness.get(render.id)).state is RenderState.ACCEPTED

    harness.clock.advance(61)
    await harness.run()
    assert (await harness.get(render.id)).state is RenderState.QUEUED


# ---- models -------------------------------------------------------------------------------------------

FRAME_SHA = "f" * 64
FRAME = b"\x89PNG a first frame"


def cdn_url(name: str, expires: datetime) -> str:
    """A Discord attachment URL signed to stop working at `expires` (its `ex` parameter, hex Unix seconds)."""
    return f"https://cdn.discordapp.com/attachments/1/2/{name}?ex={int(expires.timestamp()):x}&is=0&hm=abc"


def veo_request() -> VideoRequest:
    return VideoRequest(
        prompt="a lighthouse in a storm",
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.PRO,
        duration=8,
        aspect_ratio=AspectRatio.WIDE,
        model="veo-3.1",
        sound=True,
        seed=7,
    )


def wan_image_request(url: str) -> VideoRequest:
    return VideoRequest(
        prompt="the lighthouse beam sweeps the sea",
        generation_mode=GenerationMode.IMAGE,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, FRAME_SHA, url),),
        model="wan-2.6",
        sound=True,
        seed=3,
    )


def generation_service(harness: Harness, db: Database) -> GenerationService:
    """The service members' requests go through, on the tracker's database and holds."""
    return GenerationService(
        renders=harness.repo,
        images=harness.images,
        config=GuildConfigRepository(db),
        alerts=AlertRepository(db),
        publisher=harness.publisher,
        models=MODELS,
        default_model="kling-v3",
        wake_tracker=lambda: None,
        holds=harness.holds,
        now=harness.clock,
    )


@ON_EVERY_ENGINE
async def test_model_the_gateway_cannot_serve_fails_refunded_and_is_kept_off(
    make_harness: Callable[..., Harness], db: Database
) -> None:
    harness = make_harness(model_hold_seconds=600.0)
    harness.api.fail_next("create", "503-model-not-found")
    render = await harness.add(cost=5)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.MODEL_UNAVAILABLE)
    assert done.failure_detail == "Kling 3.0"
    assert harness.seen_states(render.id)[-1] is RenderState.FAILED
    assert await harness.used_credits() == 0
    assert len(harness.api.create_calls) == 1  # refused before any upstream call: trying again can't help
    assert await harness.holds.active(harness.clock()) == {"kling-v3": T0 + timedelta(seconds=600)}


async def test_a_held_model_is_offered_to_nobody_until_the_hold_ends(
    make_harness: Callable[..., Harness], db: Database
) -> None:
    harness = make_harness(model_hold_seconds=600.0)
    harness.api.fail_next("create", "503-model-not-found")
    await harness.finish((await harness.add()).id)
    service = generation_service(harness, db)

    choice = await service.model_choice(GUILD)

    assert "kling-v3" in choice.unavailable
    assert "can't run it at the moment" in choice.unavailable["kling-v3"]
    assert "kling-v3" not in [spec.key for spec in choice.usable()]
    with pytest.raises(RequestValidationError) as refused:
        validate_options(RawOptions(prompt="a fox", model="kling-v3"), ChannelDefaults(), choice)
    assert refused.value.option == "model"
    assert "Kling 3.0 (`kling-v3`) can't be used right now" in refused.value.message
    # Nothing the member left out picks it either: the default is held, so they are told to pick another.
    with pytest.raises(RequestValidationError, match="default model here"):
        validate_options(RawOptions(prompt="a fox"), ChannelDefaults(), choice)

    harness.clock.advance(600)
    assert "kling-v3" not in (await service.model_choice(GUILD)).unavailable


async def test_request_for_a_model_no_longer_in_the_table_fails_refunded_without_a_create(
    make_harness: Callable[..., Harness],
) -> None:
    without_veo = ModelTable(spec for spec in MODELS if spec.key != "veo-3.1")
    harness = make_harness(models=without_veo)
    render = await harness.add(veo_request(), cost=48)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.MODEL_MISCONFIGURED)
    assert done.failure_detail == "`veo-3.1` (text mode) is no longer in it"
    assert harness.seen_states(render.id)[-1] is RenderState.FAILED
    assert await harness.used_credits() == 0
    assert harness.api.create_calls == []
    assert await harness.holds.active(harness.clock()) == {}  # the gateway is not to blame: nothing is held


async def test_request_in_a_mode_the_model_no_longer_has_fails_refunded_without_a_create(harness: Harness) -> None:
    # Accepted while Vidu Q3 still had a text mode; the table it is sent with has none.
    request = VideoRequest(
        prompt="a lighthouse at dawn",
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=AspectRatio.WIDE,
        model="vidu-q3",
        sound=True,
    )
    render = await harness.add(request)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.MODEL_MISCONFIGURED)
    assert done.failure_detail == "`vidu-q3` (text mode) is no longer in it"
    assert await harness.used_credits() == 0
    assert harness.api.create_calls == []


async def test_veo_is_sent_as_its_table_entry_says(harness: Harness) -> None:
    await harness.add(veo_request())

    await harness.run()

    [create] = harness.api.create_calls
    assert create.json["model"] == "veo-3.1"
    assert (create.json["duration"], create.json["metadata"]["durationSeconds"]) == (8, 8)
    assert create.json["metadata"]["resolution"] == "1080p"
    assert create.json["metadata"]["aspectRatio"] == "16:9"
    assert (create.json["metadata"]["generateAudio"], create.json["metadata"]["seed"]) == (True, 7)


async def test_veo_clip_is_fetched_from_the_gateways_content_even_when_the_status_has_a_url(
    harness: Harness,
) -> None:
    harness.api.configure(shape="A")  # a status answer that does carry a URL (Veo's own shape has none)
    render = await harness.add(veo_request())

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert done.video_url is None  # the status URL is not Veo's: it is never stored, shown or fetched
    assert harness.api.calls("GET", f"/v1/videos/{done.task_id}/content") != []
    assert harness.api.calls("GET", "/files/") == []
    [delivery] = harness.publisher.deliveries
    assert (delivery.method, delivery.details["size"]) == ("deliver_file", VIDEO_SIZE)


async def test_stale_attachment_url_is_refreshed_before_a_url_model_is_sent_it(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    stale = cdn_url("frame.png", T0 + timedelta(minutes=5))  # gone before the model has fetched it
    fresh = cdn_url("frame.png", T0 + timedelta(hours=24))
    harness.publisher.refreshed_urls[stale] = fresh
    render = await harness.add(wan_image_request(stale))

    await harness.run()

    [refresh] = harness.publisher.calls("refresh_attachment_urls")
    assert refresh.details["urls"] == [stale]
    [create] = harness.api.create_calls
    assert create.json["model"] == "wan2.6-i2v-flash"
    assert create.json["img_url"] == fresh
    assert FRAME.hex() not in str(create.json)  # a URL model gets the URL, never the bytes
    assert (await harness.get(render.id)).state is RenderState.QUEUED


async def test_attachment_url_that_outlives_the_send_is_not_refreshed(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    url = cdn_url("frame.png", T0 + timedelta(hours=2))
    await harness.add(wan_image_request(url))

    await harness.run()

    assert harness.publisher.calls("refresh_attachment_urls", succeeded_only=False) == []
    [create] = harness.api.create_calls
    assert create.json["img_url"] == url


async def test_models_sent_image_bytes_never_ask_discord_for_urls(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    request = replace(
        wan_image_request(cdn_url("frame.png", T0 - timedelta(hours=1))), model="kling-v3", sound=False, seed=None
    )
    await harness.add(request)

    await harness.run()

    assert harness.publisher.calls("refresh_attachment_urls", succeeded_only=False) == []
    [create] = harness.api.create_calls
    assert create.json["image"] == base64.b64encode(FRAME).decode()


async def test_url_refresh_failing_passingly_keeps_the_request_for_a_later_try(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    stale = cdn_url("frame.png", T0 - timedelta(hours=3))
    fresh = cdn_url("frame.png", T0 + timedelta(hours=24))
    harness.publisher.refreshed_urls[stale] = fresh
    harness.publisher.fail_next("refresh_attachment_urls", PublishUnavailable("HTTP 503"))
    render = await harness.add(wan_image_request(stale))

    await harness.run()

    waiting = await harness.get(render.id)
    assert (waiting.state, waiting.failure_kind) == (RenderState.ACCEPTED, None)
    assert harness.wait_of(waiting) == timedelta(seconds=POLL)
    assert harness.api.create_calls == []
    assert await harness.used_credits() == 5  # still reserved: the request is not lost

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    [create] = harness.api.create_calls
    assert create.json["img_url"] == fresh


async def test_url_refresh_that_never_succeeds_gives_up_refunded(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(submit_deadline=10 * 86400.0)  # the attempt bound, not the deadline, is under test
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    harness.publisher.fail_next("refresh_attachment_urls", PublishUnavailable("HTTP 400"), times=MAX_SUBMIT_ATTEMPTS)
    render = await harness.add(wan_image_request(cdn_url("frame.png", T0 - timedelta(hours=3))))

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.INPUT_MISSING)
    assert len(harness.publisher.calls("refresh_attachment_urls", succeeded_only=False)) == MAX_SUBMIT_ATTEMPTS
    assert harness.api.create_calls == []
    assert await harness.used_credits() == 0


# ---- what can't be sent, or fetched ----------------------------------------------------------------------


def table_with(change: Callable[[dict[str, Any]], None]) -> ModelTable:
    """The shipped table after `change(data)` edits it (a table that loads, but a hook can't follow)."""
    with SHIPPED_MODELS.open("rb") as handle:
        data = tomllib.load(handle)
    change(data)
    return parse_model_table(data)


def wan_reference_request(url: str, ratio: AspectRatio) -> VideoRequest:
    return VideoRequest(
        prompt="<<<image_1>>> walks along the cliff",
        generation_mode=GenerationMode.REFERENCE,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=ratio,
        images=(ImageSlot(ImageRole.REFERENCE, 1, FRAME_SHA, url),),
        model="wan-2.6",
        sound=True,
        seed=3,
    )


async def test_body_the_tables_hook_cannot_build_fails_refunded_naming_the_fault(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    # An operator let wan2.6-r2v take 21:9, a ratio its size hook has no width*height for.
    wider = table_with(
        lambda data: data["models"]["wan-2.6"]["modes"]["reference"].__setitem__(
            "aspect_ratios", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
        )
    )
    harness = make_harness(models=wider)
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    render = await harness.add(wan_reference_request(cdn_url("ref.png", T0 + timedelta(hours=24)), AspectRatio.CINEMA))

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.MODEL_MISCONFIGURED)
    assert done.failure_detail == "no 720P size for 21:9"
    assert harness.seen_states(render.id)[-1] is RenderState.FAILED
    assert await harness.used_credits() == 0
    assert harness.api.create_calls == []
    # The operator hears of it in the log, as an error: only they can fix the table.
    [logged] = [r for r in caplog.records if r.name == "bot.services.tracker" and r.levelno >= logging.ERROR]
    assert "wan-2.6" in logged.getMessage() and "no 720P size for 21:9" in logged.getMessage()
    caplog.clear()


async def test_a_ratio_the_hook_knows_is_still_sent_with_the_same_table(make_harness: Callable[..., Harness]) -> None:
    wider = table_with(
        lambda data: data["models"]["wan-2.6"]["modes"]["reference"].__setitem__(
            "aspect_ratios", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
        )
    )
    harness = make_harness(models=wider)
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    await harness.add(wan_reference_request(cdn_url("ref.png", T0 + timedelta(hours=24)), AspectRatio.WIDE))

    await harness.run()

    [create] = harness.api.create_calls
    assert (create.json["model"], create.json["size"]) == ("wan2.6-r2v", "1280*720")


async def test_url_model_image_without_a_url_fails_as_input_missing_refunded(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # The bytes are stored, but a URL model needs the attachment's URL, and this request has none.
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    request = replace(wan_image_request("unused"), images=(ImageSlot(ImageRole.FIRST_FRAME, 1, FRAME_SHA, None),))
    render = await harness.add(request)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.INPUT_MISSING)
    assert await harness.used_credits() == 0
    assert harness.api.create_calls == []
    assert any("no URL for the first_frame image" in r.getMessage() for r in caplog.records)


async def test_attachment_discord_no_longer_has_fails_as_input_missing_refunded_at_once(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    stale = cdn_url("frame.png", T0 - timedelta(hours=3))
    harness.publisher.lost_urls.add(stale)  # the message with the attachment was deleted meanwhile
    render = await harness.add(wan_image_request(stale))

    await harness.run()

    done = await harness.get(render.id)
    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.INPUT_MISSING)
    assert harness.seen_states(render.id) == [RenderState.FAILED]
    assert len(harness.publisher.calls("refresh_attachment_urls")) == 1  # asking again can't bring it back
    assert harness.api.create_calls == []
    assert await harness.used_credits() == 0


async def test_one_lost_reference_among_refreshed_ones_fails_the_whole_request(harness: Harness) -> None:
    await harness.images.put(FRAME_SHA, FRAME, "image/png")
    other_sha = "e" * 64
    await harness.images.put(other_sha, b"\x89PNG a second reference", "image/png")
    kept, lost = cdn_url("kept.png", T0 - timedelta(hours=3)), cdn_url("lost.png", T0 - timedelta(hours=3))
    harness.publisher.refreshed_urls[kept] = cdn_url("kept.png", T0 + timedelta(hours=24))
    harness.publisher.lost_urls.add(lost)
    request = replace(
        wan_reference_request(kept, AspectRatio.WIDE),
        prompt="<<<image_1>>> meets <<<image_2>>> on the cliff",
        images=(ImageSlot(ImageRole.REFERENCE, 1, FRAME_SHA, kept), ImageSlot(ImageRole.REFERENCE, 2, other_sha, lost)),
    )
    render = await harness.add(request)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.INPUT_MISSING)
    [refresh] = harness.publisher.calls("refresh_attachment_urls")
    assert refresh.details["urls"] == [kept, lost]
    assert harness.api.create_calls == []
    assert await harness.used_credits() == 0


@pytest.mark.parametrize("refusal", ["400-kling", "403-quota"])
async def test_veo_clip_the_gateway_refuses_to_give_fails_as_no_video_refunded(harness: Harness, refusal: str) -> None:
    render = await harness.add(veo_request(), cost=48)
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    harness.api.fail_next("content", refusal)  # e.g. a clip filtered after the task said done

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind, done.failure_detail) == (RenderState.FAILED, FailureKind.NO_VIDEO, None)
    assert harness.seen_states(render.id)[-2:] == [RenderState.SUCCEEDED, RenderState.FAILED]
    assert harness.publisher.deliveries == []  # no "too large" message, and no link: there is none to give
    assert len(harness.api.calls("GET", f"/v1/videos/{done.task_id}/content")) == 1  # a refusal is not retried
    assert await harness.used_credits() == 0


@ON_EVERY_ENGINE
async def test_veo_clip_for_a_task_the_gateway_no_longer_knows_fails_as_no_video(harness: Harness) -> None:
    render = await harness.add(veo_request())
    # Done at the API, as far as the bot knows, but /content answers 404 task_not_exist.
    now = harness.clock()
    await harness.repo.move(render.id, RenderState.SUBMITTING, now=now)
    await harness.repo.move(render.id, RenderState.QUEUED, now=now, task_id="task_gone", submitted_at=now)
    await harness.repo.move(render.id, RenderState.SUCCEEDED, now=now, video_url=None)

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.NO_VIDEO)
    assert len(harness.api.calls("GET", "/v1/videos/task_gone/content")) == 1
    assert harness.publisher.deliveries == []
    assert await harness.used_credits() == 0


async def test_veo_clip_that_never_downloads_fails_as_no_video_after_the_last_try(harness: Harness) -> None:
    render = await harness.add(veo_request())
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    # Each delivery attempt is one download call: the tracker retries on later steps, outside its slot.
    harness.api.fail_next("content", "500", times=MAX_DELIVERY_ATTEMPTS)

    almost = await harness.until(render.id, lambda r: r.attempts == MAX_DELIVERY_ATTEMPTS - 1)
    assert almost.state is RenderState.SUCCEEDED  # passing failures are retried meanwhile
    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.NO_VIDEO)
    assert len(harness.api.calls("GET", f"/v1/videos/{done.task_id}/content")) == MAX_DELIVERY_ATTEMPTS
    assert harness.publisher.deliveries == []
    assert await harness.used_credits() == 0


async def test_veo_clip_that_downloads_on_a_later_try_is_delivered(harness: Harness) -> None:
    render = await harness.add(veo_request())
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    harness.api.fail_next("content", "500", times=1)  # one whole delivery attempt

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    [delivery] = harness.publisher.deliveries
    assert (delivery.method, delivery.details["size"]) == ("deliver_file", VIDEO_SIZE)
    assert await harness.used_credits() == 5


async def test_clip_with_a_status_url_that_never_downloads_is_still_linked(harness: Harness) -> None:
    # Unlike Veo's, this clip has a URL of its own: the member gets the link, and the render counts.
    render = await harness.add()
    await harness.until(render.id, lambda r: r.state is RenderState.RENDERING)
    harness.api.fail_next("files", "500", times=2 * MAX_DELIVERY_ATTEMPTS)

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    [link] = harness.publisher.deliveries
    assert (link.method, link.details["url"]) == ("deliver_link", done.video_url)
    assert done.video_url is not None
    assert await harness.used_credits() == 5
