"""The result message of a request: created once, one editor at a time, in one process or several, every member
shown as it is (a clip, a failure with its refund, a deletion). Two `ResultMessages` with different owners stand for
two bot processes on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.states import FailureKind, RenderState
from bot.services.cards import StatusCards, card_shown
from bot.services.gallery import GalleryBusy, Post, ResultMessages
from bot.services.ports import MessageGone, PublishUnavailable
from bot.services.steps import StepContext, TrackerConfig
from bot.storage.db import Database
from bot.storage.groups import GroupRepository
from bot.storage.images import ImageStore
from bot.storage.renders import LeasedRenders, RenderRepository
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import T0, add_render
from tests.storage.databases import open_database

MODELS = load_model_table()
LEASE = 60.0
WAIT = 10.0  # seconds a test waits for what the code does at once (a hang fails, nothing is timed)


class Clockwork:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class GatedPublisher(RecordingPublisher):
    """Clip posts wait at a gate while `hold` is set, so a test can act while one is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def deliver_file(self, render: RenderRecord, path: Path, filename: str, **where: object) -> int:
        if self.hold:
            self.waiting.set()
            await asyncio.wait_for(self.gate.wait(), WAIT)
        return await super().deliver_file(render, path, filename, **where)  # type: ignore[arg-type]


@dataclass
class World:
    repo: RenderRepository
    groups: GroupRepository
    publisher: GatedPublisher
    clock: Clockwork
    db: Database

    def context(self, owner: str) -> StepContext:
        config = TrackerConfig(owner=owner, work_dir=Path("unused"), lease_seconds=LEASE)
        return StepContext(
            renders=LeasedRenders(self.repo, owner),
            images=ImageStore(self.db),
            api=None,  # type: ignore[arg-type]  # nothing here calls the video API
            publisher=self.publisher,
            config=config,
            models=MODELS,
            clock=Clock(now=self.clock, sleep=_no_wait),
        )

    def process(self, owner: str) -> ResultMessages:
        return ResultMessages(self.context(owner), self.groups)

    async def takes(self, count: int) -> list[RenderRecord]:
        renders = await add_render(self.repo, takes=count, now=self.clock())
        await self.groups.set_first_card(renders[0].group_id, 4242, now=self.clock(), shown={})
        return [await self.get(r.id) for r in renders]

    async def get(self, render_id: str) -> RenderRecord:
        render = await self.repo.get(render_id)
        assert render is not None
        return render

    async def delivered(self, render: RenderRecord, message_id: int) -> RenderRecord:
        """What the delivery writes once the clip is in."""
        for state in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.SUCCEEDED, RenderState.DELIVERED):
            await self.repo.move(render.id, state, now=self.clock(), result_message_id=message_id)
        return await self.get(render.id)


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_database("sqlite", tmp_path) as db:
        publisher = GatedPublisher()
        yield World(RenderRepository(db), GroupRepository(db), publisher, Clockwork(), db)
        publisher.gate.set()


def file_post(world: World, render: RenderRecord) -> Post:
    async def post(group: Sequence[RenderRecord], into: int | None, removed: Collection[str]) -> int:
        return await world.publisher.deliver_file(
            render, Path(__file__), f"clip-{render.id[:8]}.mp4", group=group, into=into, removed=removed
        )

    return post


def posts(world: World) -> list[tuple[str, int | None]]:
    """Each clip post: (whose, into which message: None for a new one)."""
    return [(e.render.id, e.details["into"]) for e in world.publisher.deliveries if e.render is not None]


async def test_the_first_take_posts_the_message_and_the_next_adds_its_clip_to_it(world: World) -> None:
    first, second = await world.takes(2)
    results = world.process("bot-1")

    message = await results.deliver(first, file_post(world, first))
    await world.delivered(first, message)
    again = await results.deliver(second, file_post(world, second))

    assert again == message
    assert posts(world) == [(first.id, None), (second.id, message)]
    shown = world.publisher.deliveries[1].details["group"]
    assert shown == [first.id, second.id]
    assert (await world.groups.get(first.group_id)).gallery_message_id == message


async def test_takes_finishing_at_once_in_two_processes_edit_the_message_one_at_a_time(world: World) -> None:
    first, second = await world.takes(2)
    world.publisher.hold = True
    posting = asyncio.create_task(world.process("bot-1").deliver(first, file_post(world, first)))
    await asyncio.wait_for(world.publisher.waiting.wait(), WAIT)

    with pytest.raises(GalleryBusy):
        await world.process("bot-2").deliver(second, file_post(world, second))
    world.publisher.gate.set()
    message = await posting
    await world.delivered(first, message)
    added = await world.process("bot-2").deliver(second, file_post(world, second))

    assert added == message
    assert posts(world) == [(first.id, None), (second.id, message)]


async def test_a_process_that_died_while_posting_is_waited_for_only_until_its_lease_runs_out(world: World) -> None:
    first, second = await world.takes(2)
    # bot-1 took the message to post into it, then died: it never releases.
    assert await world.groups.take(first.group_id, "gallery", "bot-1:x", now=T0, until=T0 + timedelta(seconds=LEASE))

    with pytest.raises(GalleryBusy):
        await world.process("bot-2").deliver(second, file_post(world, second))
    world.clock.now = T0 + timedelta(seconds=LEASE + 1)
    message = await world.process("bot-2").deliver(second, file_post(world, second))

    assert posts(world) == [(second.id, None)]
    assert (await world.groups.get(first.group_id)).gallery_message_id == message


async def test_of_two_first_messages_one_is_kept_and_the_other_clip_joins_it(world: World) -> None:
    first, second = await world.takes(2)
    world.publisher.hold = True
    slow = asyncio.create_task(world.process("bot-1").deliver(first, file_post(world, first)))
    await asyncio.wait_for(world.publisher.waiting.wait(), WAIT)
    # bot-1's post is so slow that its lease runs out: bot-2 posts the first message meanwhile.
    world.clock.now = T0 + timedelta(seconds=LEASE + 1)
    world.publisher.hold = False
    kept = await world.process("bot-2").deliver(second, file_post(world, second))

    world.publisher.gate.set()
    joined = await slow

    assert joined == kept
    lost = next(e.message_id for e in world.publisher.deliveries if e.render and e.render.id == first.id)
    assert [e.details["message_id"] for e in world.publisher.calls("delete_message")] == [lost]
    assert posts(world)[-1] == (first.id, kept)  # its clip went into the message that was kept
    assert (await world.groups.get(first.group_id)).gallery_message_id == kept


async def test_a_result_message_someone_deleted_is_posted_again_by_the_next_take(world: World) -> None:
    first, second = await world.takes(2)
    results = world.process("bot-1")
    message = await results.deliver(first, file_post(world, first))
    await world.delivered(first, message)
    world.publisher.fail_next("deliver_file", MessageGone("10008"))

    again = await results.deliver(second, file_post(world, second))

    assert again != message
    assert posts(world)[-1] == (second.id, None)
    assert (await world.groups.get(first.group_id)).gallery_message_id == again


# ---- a take that fails after the message exists; Delete ---------------------------------------------------------


async def failed(world: World, render: RenderRecord) -> RenderRecord:
    await world.repo.move(render.id, RenderState.FAILED, now=world.clock(), failure_kind=FailureKind.TIMEOUT)
    return await world.get(render.id)


async def test_a_take_failing_after_the_message_exists_is_shown_there_before_it_counts_as_shown(
    world: World,
) -> None:
    first, second = await world.takes(2)
    message = await world.process("bot-1").deliver(first, file_post(world, first))
    await world.delivered(first, message)
    second = await failed(world, second)
    cards = StatusCards(world.context("bot-1"), world.repo)
    world.publisher.fail_next("refresh_result", PublishUnavailable("503"))

    await cards.sync(second)

    assert not card_shown(await world.get(second.id))  # the card says it, the result message not yet
    await cards.sync(await world.get(second.id))

    assert card_shown(await world.get(second.id))
    refresh = world.publisher.calls("refresh_result")[-1]
    assert refresh.details["message_id"] == message and refresh.details["group"] == [first.id, second.id]


async def test_deleting_one_take_keeps_the_others_and_the_last_takes_the_message_and_the_card(world: World) -> None:
    first, second = await world.takes(2)
    results = world.process("bot-1")
    message = await results.deliver(first, file_post(world, first))
    first = await world.delivered(first, message)
    await results.deliver(second, file_post(world, second))
    second = await world.delivered(second, message)

    assert await results.remove(first, pressed=message)
    refresh = world.publisher.calls("refresh_result")[-1]
    assert refresh.details["removed"] == [first.id]
    assert world.publisher.calls("delete_message") == []

    assert await results.remove(second, pressed=message)
    deleted = {e.details["message_id"] for e in world.publisher.calls("delete_message")}
    assert deleted == {message, 4242}  # the result message and the card
    assert (await world.groups.get(first.group_id)).removed == {first.id, second.id}


async def test_delete_waits_for_a_take_being_added_then_gives_up_without_changing_anything(world: World) -> None:
    first, _ = await world.takes(2)
    message = await world.process("bot-1").deliver(first, file_post(world, first))
    first = await world.delivered(first, message)
    held_until = T0 + timedelta(hours=1)
    assert await world.groups.take(first.group_id, "gallery", "bot-2:adding", now=T0, until=held_until)

    assert not await world.process("bot-1").remove(first, pressed=message)

    assert (await world.groups.get(first.group_id)).removed == frozenset()
    assert world.publisher.calls("refresh_result") == []
