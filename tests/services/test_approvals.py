"""ApprovalService on real storage: a moderator's Approve or Deny decides a held request exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.services.approvals import ApprovalService, GenerationPaused
from bot.services.ports import PublishUnavailable
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import GUILD, T0, USER, add_render
from tests.storage.databases import ENGINES, open_database

MODERATOR = 4_000_000_000_000_000_004
MOD_CHANNEL = 5_000_000_000_000_000_005
APPROVAL_MESSAGE = 777
DECIDED_AT = T0 + timedelta(minutes=5)


ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)


@dataclass
class Setup:
    service: ApprovalService
    repo: RenderRepository
    publisher: RecordingPublisher
    wakes: list[None]
    config: GuildConfigRepository

    async def held(self, *, takes: int = 1, approval_message_id: int | None = APPROVAL_MESSAGE) -> list[RenderRecord]:
        renders = await add_render(self.repo, takes=takes, state=RenderState.AWAITING_APPROVAL)
        for render in renders:
            await self.repo.update(render.id, now=T0, approval_message_id=approval_message_id)
        return renders

    async def decide(self, group_id: str, *, approve: bool) -> list[RenderRecord]:
        return await self.service.decide(
            group_id, guild_id=GUILD, moderator_id=MODERATOR, approve=approve, approval_channel_id=MOD_CHANNEL
        )

    async def states(self, group_id: str) -> list[RenderState]:
        return [r.state for r in await self.repo.list_group(group_id)]


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite; tests whose outcome may depend on the engine also run on PostgreSQL (`@ON_EVERY_ENGINE`)."""
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
def setup(db: Database) -> Setup:
    repo = RenderRepository(db)
    publisher = RecordingPublisher()
    wakes: list[None] = []
    config = GuildConfigRepository(db)
    service = ApprovalService(
        renders=repo,
        publisher=publisher,
        wake_tracker=lambda: wakes.append(None),
        config=config,
        now=lambda: DECIDED_AT,
    )
    return Setup(service, repo, publisher, wakes, config)


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
async def test_a_decision_while_the_server_is_paused_is_refused_and_changes_nothing(
    setup: Setup, approve: bool
) -> None:
    [render] = await setup.held()
    # Written directly: the pause's own refund would leave nothing held, and the check must not rely on it.
    await setup.config.set_paused(GUILD, True, actor_id=MODERATOR)

    with pytest.raises(GenerationPaused):
        await setup.decide(render.group_id, approve=approve)

    [after] = await setup.repo.list_group(render.group_id)
    assert (after.state, after.decided_by) == (RenderState.AWAITING_APPROVAL, None)
    assert setup.publisher.events == []
    assert setup.wakes == []


async def test_decisions_work_again_once_resumed(setup: Setup) -> None:
    [render] = await setup.held()
    await setup.config.set_paused(GUILD, True, actor_id=MODERATOR)
    await setup.config.set_paused(GUILD, False, actor_id=MODERATOR)

    [moved] = await setup.decide(render.group_id, approve=True)

    assert moved.state is RenderState.ACCEPTED


async def test_approve_accepts_every_take_and_says_who_decided(setup: Setup) -> None:
    renders = await setup.held(takes=2)

    moved = await setup.decide(renders[0].group_id, approve=True)

    assert [r.id for r in moved] == [r.id for r in renders]
    assert {(r.state, r.decided_by) for r in moved} == {(RenderState.ACCEPTED, MODERATOR)}


async def test_approved_takes_are_due_for_the_tracker_at_once(setup: Setup) -> None:
    [render] = await setup.held()

    [moved] = await setup.decide(render.group_id, approve=True)

    assert moved.next_poll_at == DECIDED_AT
    assert len(setup.wakes) == 1


@ON_EVERY_ENGINE
async def test_second_press_decides_nothing(setup: Setup) -> None:
    [render] = await setup.held()
    await setup.decide(render.group_id, approve=True)

    again = await setup.decide(render.group_id, approve=True)

    assert again == []
    assert len(setup.publisher.calls("close_approval_request")) == 1
    assert len(setup.wakes) == 1


async def test_a_press_from_another_guild_decides_nothing(setup: Setup) -> None:
    [render] = await setup.held()

    moved = await setup.service.decide(
        render.group_id, guild_id=GUILD + 1, moderator_id=MODERATOR, approve=True, approval_channel_id=MOD_CHANNEL
    )

    assert moved == []
    assert await setup.states(render.group_id) == [RenderState.AWAITING_APPROVAL]
    assert setup.wakes == []


async def test_deny_after_approve_changes_nothing(setup: Setup) -> None:
    [render] = await setup.held()
    await setup.decide(render.group_id, approve=True)

    assert await setup.decide(render.group_id, approve=False) == []
    assert await setup.states(render.group_id) == [RenderState.ACCEPTED]


@ON_EVERY_ENGINE
async def test_simultaneous_presses_decide_once(setup: Setup) -> None:
    [render] = await setup.held()

    results = await asyncio.gather(
        setup.decide(render.group_id, approve=True), setup.decide(render.group_id, approve=False)
    )

    assert sorted(len(moved) for moved in results) == [0, 1]


@ON_EVERY_ENGINE
async def test_deny_refunds_the_reserved_credits(setup: Setup) -> None:
    [render] = await setup.held()
    assert (await setup.repo.member_snapshot(GUILD, USER, T0)).member_used_today == render.cost

    [denied] = await setup.decide(render.group_id, approve=False)

    assert (denied.state, denied.decided_by, denied.finished_at) == (RenderState.DENIED, MODERATOR, DECIDED_AT)
    assert (await setup.repo.member_snapshot(GUILD, USER, T0)).member_used_today == 0


async def test_decision_is_shown_on_the_approval_message(setup: Setup) -> None:
    [render] = await setup.held()

    await setup.decide(render.group_id, approve=False)

    [closed] = setup.publisher.calls("close_approval_request")
    assert (closed.details["channel_id"], closed.details["message_id"]) == (MOD_CHANNEL, APPROVAL_MESSAGE)
    assert closed.render is not None and closed.render.state is RenderState.DENIED


async def test_request_whose_approval_message_was_never_posted_is_still_decided(setup: Setup) -> None:
    [render] = await setup.held(approval_message_id=None)

    moved = await setup.decide(render.group_id, approve=True)

    assert [r.state for r in moved] == [RenderState.ACCEPTED]
    assert setup.publisher.calls("close_approval_request", succeeded_only=False) == []


async def test_decision_stands_when_the_approval_message_cannot_be_updated(setup: Setup) -> None:
    [render] = await setup.held()
    setup.publisher.fail_next("close_approval_request", PublishUnavailable("HTTP 503"))

    moved = await setup.decide(render.group_id, approve=True)

    assert [r.state for r in moved] == [RenderState.ACCEPTED]
    assert len(setup.wakes) == 1


async def test_denied_request_is_shown_as_denied_and_closed_without_reaching_the_api(
    setup: Setup, db: Database, tmp_path: Path
) -> None:
    [render] = await setup.held()
    await setup.decide(render.group_id, approve=False)
    async with aiohttp.ClientSession() as session:
        # Nothing may be sent for a denied request: this client points nowhere.
        api = VideoApiClient(session, "http://127.0.0.1:9", "sk-unused")
        tracker = Tracker(
            setup.repo,
            ImageStore(db),
            api,
            setup.publisher,
            TrackerConfig("t", tmp_path),
            models=load_model_table(),
            clock=Clock(now=lambda: DECIDED_AT),
        )

        await tracker.run_until_idle()

    done = await setup.repo.get(render.id)
    assert done is not None and done.closed
    [post] = setup.publisher.posts
    assert post.render is not None and post.render.state is RenderState.DENIED
