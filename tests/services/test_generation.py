"""GenerationService.accept on real storage: reservation, stored images, status message, approvals, spend alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.domain.images import CheckedImage
from bot.domain.quota_types import (
    ApprovalRules,
    CostRates,
    Decision,
    GuildRules,
    RefusalReason,
    Requester,
    UsageSnapshot,
)
from bot.domain.request import GenerationMode, ImageRole, ImageSlot, QualityMode, VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.services.generation import Accepted, GenerationService, Refused
from bot.services.ports import PublishUnavailable
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import NewRender, RenderRecord, RenderRepository
from bot.videoapi.client import VideoApiClient
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, video_request
from tests.storage.databases import ENGINES, open_database

MODERATOR = 4_000_000_000_000_000_004
MOD_CHANNEL = 5_000_000_000_000_000_005
ROLE = 6_000_000_000_000_000_006
UPLOAD_LIMIT = 25 * 1024 * 1024
MEMBER = Requester(USER)


ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)


class ImagesCheckedAtReserve(RenderRepository):
    """Notes, at the moment of each reservation, whether every image of the request is already stored."""

    def __init__(self, db: Database, images: ImageStore) -> None:
        super().__init__(db)
        self._images = images
        self.images_stored_at_reserve: list[bool] = []

    async def reserve(
        self,
        new: list[NewRender],
        decide: Callable[[UsageSnapshot], Decision],
        *,
        now: datetime,
        first_look_at: datetime | None = None,
    ) -> tuple[Decision, list[RenderRecord]]:
        shas = [slot.sha256 for render in new for slot in render.request.images]
        stored = await self._images.get_many(shas)
        self.images_stored_at_reserve.append(len(stored) == len(set(shas)))
        return await super().reserve(new, decide, now=now, first_look_at=first_look_at)


@dataclass
class Setup:
    service: GenerationService
    repo: ImagesCheckedAtReserve
    images: ImageStore
    config: GuildConfigRepository
    publisher: RecordingPublisher
    wakes: list[None]

    async def accept(
        self,
        request: VideoRequest | None = None,
        *,
        requester: Requester = MEMBER,
        images: tuple[CheckedImage, ...] = (),
    ) -> Accepted | Refused:
        return await self.service.accept(
            guild_id=GUILD,
            channel_id=CHANNEL,
            requester=requester,
            request=request or video_request(),
            images=images,
            upload_limit=UPLOAD_LIMIT,
        )

    async def accepted(self, request: VideoRequest | None = None, *, requester: Requester = MEMBER) -> Accepted:
        result = await self.accept(request, requester=requester)
        assert isinstance(result, Accepted), result
        return result

    async def used_credits(self) -> int:
        return (await self.repo.member_snapshot(GUILD, USER, T0)).member_used_today

    def alerts(self) -> list[tuple[str, int]]:
        return [(e.details["period"], e.details["percent"]) for e in self.publisher.calls("post_spend_alert")]


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite; tests whose outcome may depend on the engine also run on PostgreSQL (`@ON_EVERY_ENGINE`)."""
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
def setup(db: Database) -> Setup:
    images = ImageStore(db)
    repo = ImagesCheckedAtReserve(db, images)
    config = GuildConfigRepository(db, GuildRules(default_daily_credits=50, max_in_flight_per_member=None))
    publisher = RecordingPublisher()
    wakes: list[None] = []
    service = GenerationService(
        renders=repo,
        images=images,
        config=config,
        alerts=AlertRepository(db),
        publisher=publisher,
        rates=CostRates(),
        wake_tracker=lambda: wakes.append(None),
        now=lambda: T0,
    )
    return Setup(service, repo, images, config, publisher, wakes)


def first_frame(data: bytes = b"\x89PNG first frame bytes") -> CheckedImage:
    return CheckedImage("first_frame", data, "image/png", 400, 400, "c" * 64)


def image_request(image: CheckedImage) -> VideoRequest:
    return replace(
        video_request(),
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, image.sha256),),
    )


def pro(request: VideoRequest | None = None) -> VideoRequest:
    return replace(request or video_request(), mode=QualityMode.PRO)


async def hold_pro_requests(setup: Setup, *, moderator_channel: int | None = MOD_CHANNEL) -> None:
    await setup.config.set_approval_rules(GUILD, ApprovalRules(enabled=True, pro_mode=True), actor_id=MODERATOR)
    await setup.config.set_moderator_channel(GUILD, moderator_channel, actor_id=MODERATOR)


# ---- accepting ----------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_accepted_request_is_stored_with_its_credits_reserved(setup: Setup) -> None:
    result = await setup.accepted()

    [render] = result.renders
    assert (render.state, render.cost) == (RenderState.ACCEPTED, 5)
    assert await setup.used_credits() == 5
    assert result.decision.member_credits_left == 45


async def test_images_are_stored_before_the_credits_are_reserved(setup: Setup) -> None:
    image = first_frame()

    await setup.service.accept(
        guild_id=GUILD,
        channel_id=CHANNEL,
        requester=MEMBER,
        request=image_request(image),
        images=[image],
        upload_limit=UPLOAD_LIMIT,
    )

    assert setup.repo.images_stored_at_reserve == [True]
    assert await setup.images.get(image.sha256) == (image.data, "image/png")


async def test_status_message_is_posted_and_remembered(setup: Setup) -> None:
    result = await setup.accepted()

    [post] = setup.publisher.posts
    [render] = result.renders
    assert render.status_message_id == post.message_id
    stored = await setup.repo.get(render.id)
    assert stored is not None and stored.status_message_id == post.message_id


async def test_a_status_post_that_loses_the_race_to_the_tracker_is_deleted(setup: Setup) -> None:
    tracker_message = 777

    async def slow_post(render: RenderRecord) -> int:
        # Discord was slow: by the time our post returns, the tracker has posted and recorded its own.
        await setup.repo.update(render.id, now=T0, status_message_id=tracker_message)
        return await RecordingPublisher.post_status(setup.publisher, render)

    setup.publisher.post_status = slow_post  # type: ignore[method-assign]

    result = await setup.accepted()

    [ours] = setup.publisher.posts
    [deleted] = setup.publisher.calls("delete_message")
    assert deleted.details == {"channel_id": CHANNEL, "message_id": ours.message_id}
    stored = await setup.repo.get(result.renders[0].id)
    assert stored is not None and stored.status_message_id == tracker_message


async def test_tracker_may_look_at_once_when_the_status_message_is_posted(setup: Setup) -> None:
    result = await setup.accepted()

    assert result.renders[0].next_poll_at == T0


async def test_tracker_does_not_edit_a_status_message_that_already_shows_the_state(
    setup: Setup, tmp_path: Path
) -> None:
    await hold_pro_requests(setup)
    await setup.accepted(pro())
    async with aiohttp.ClientSession() as session:
        # A held request is never submitted, so this client is never used.
        api = VideoApiClient(session, "http://127.0.0.1:9", "sk-unused")
        tracker = Tracker(setup.repo, setup.images, api, setup.publisher, TrackerConfig("t", tmp_path), now=lambda: T0)

        await tracker.run_until_idle()

    assert len(setup.publisher.posts) == 1
    assert setup.publisher.edits == []


async def test_tracker_is_woken_after_accepting(setup: Setup) -> None:
    await setup.accepted()

    assert len(setup.wakes) == 1


async def test_failed_status_post_leaves_the_request_for_the_tracker_to_announce(setup: Setup) -> None:
    setup.publisher.fail_next("post_status", PublishUnavailable("HTTP 503"))

    result = await setup.accepted()

    [render] = result.renders
    stored = await setup.repo.get(render.id)
    assert stored is not None
    assert (stored.state, stored.status_message_id, stored.next_poll_at) == (RenderState.ACCEPTED, None, T0)
    assert len(setup.wakes) == 1


@ON_EVERY_ENGINE
async def test_request_over_the_daily_credits_is_refused_and_nothing_is_stored(setup: Setup) -> None:
    await setup.config.set_default_daily_credits(GUILD, 4, actor_id=MODERATOR)

    result = await setup.accept()

    assert isinstance(result, Refused)
    assert result.decision.refusal is not None
    assert result.decision.refusal.reason is RefusalReason.MEMBER_DAILY
    assert await setup.repo.recent(GUILD) == []
    assert setup.publisher.events == []
    assert setup.wakes == []


async def test_preview_decides_without_reserving(setup: Setup) -> None:
    decision = await setup.service.preview(
        guild_id=GUILD, channel_id=CHANNEL, requester=MEMBER, request=video_request()
    )

    assert decision.accepted
    assert await setup.repo.recent(GUILD) == []


@ON_EVERY_ENGINE
async def test_three_takes_are_three_renders_each_costing_its_share(setup: Setup) -> None:
    result = await setup.accepted(video_request(takes=3))

    assert [(r.take_index, r.takes, r.cost) for r in result.renders] == [(1, 3, 5), (2, 3, 5), (3, 3, 5)]
    assert len({r.group_id for r in result.renders}) == 1
    assert result.decision.cost == 15
    assert await setup.used_credits() == 15
    assert len(setup.publisher.posts) == 3


# ---- approval -----------------------------------------------------------------------------------------


async def test_request_matching_an_approval_rule_is_held_with_credits_reserved(setup: Setup) -> None:
    await hold_pro_requests(setup)

    result = await setup.accepted(pro())

    assert result.held_for_approval
    assert [r.state for r in result.renders] == [RenderState.AWAITING_APPROVAL]
    assert result.renders[0].approval_reason == "pro mode"
    assert await setup.used_credits() == 10


async def test_held_request_is_put_to_the_moderators(setup: Setup) -> None:
    await hold_pro_requests(setup)

    result = await setup.accepted(pro(video_request(takes=2)))

    [ask] = setup.publisher.calls("post_approval_request")
    assert ask.details["channel_id"] == MOD_CHANNEL
    assert ask.details["render_ids"] == [r.id for r in result.renders]
    assert {r.approval_message_id for r in result.renders} == {ask.message_id}


async def test_held_request_without_a_moderator_channel_is_put_in_its_own_channel(setup: Setup) -> None:
    await hold_pro_requests(setup, moderator_channel=None)

    await setup.accepted(pro())

    [ask] = setup.publisher.calls("post_approval_request")
    assert ask.details["channel_id"] == CHANNEL


async def test_request_matching_no_approval_rule_goes_straight_on(setup: Setup) -> None:
    await hold_pro_requests(setup)

    result = await setup.accepted(video_request())

    assert [r.state for r in result.renders] == [RenderState.ACCEPTED]
    assert setup.publisher.calls("post_approval_request") == []


@ON_EVERY_ENGINE
async def test_exempt_member_is_never_held_for_approval(setup: Setup) -> None:
    await hold_pro_requests(setup)
    await setup.config.set_limits(GUILD, None, 0, [ROLE], actor_id=MODERATOR)

    result = await setup.accepted(pro(), requester=Requester(USER, role_ids=frozenset({ROLE})))

    assert not result.held_for_approval
    assert [r.state for r in result.renders] == [RenderState.ACCEPTED]


# ---- spend alerts -------------------------------------------------------------------------------------


async def test_spend_alerts_are_posted_at_50_80_and_100_percent_of_the_budget(setup: Setup) -> None:
    await setup.config.set_moderator_channel(GUILD, MOD_CHANNEL, actor_id=MODERATOR)
    await setup.config.set_budget(GUILD, 10, None, actor_id=MODERATOR)

    await setup.accepted(replace(video_request(), duration=4))
    assert setup.alerts() == []
    await setup.accepted(replace(video_request(), duration=4))  # 8 of 10: past 50 and 80 at once
    await setup.accepted(replace(video_request(), duration=2))

    assert setup.alerts() == [("day", 50), ("day", 80), ("day", 100)]
    alerts = setup.publisher.calls("post_spend_alert")
    assert {(e.details["channel_id"], e.details["budget"]) for e in alerts} == {(MOD_CHANNEL, 10)}
    assert [e.details["spent"] for e in alerts] == [8, 8, 10]


async def test_monthly_budget_alerts_name_the_month(setup: Setup) -> None:
    await setup.config.set_moderator_channel(GUILD, MOD_CHANNEL, actor_id=MODERATOR)
    await setup.config.set_budget(GUILD, None, 10, actor_id=MODERATOR)

    await setup.accepted()

    assert setup.alerts() == [("month", 50)]


@ON_EVERY_ENGINE
async def test_spend_alert_is_posted_once_even_when_the_threshold_is_crossed_again(setup: Setup) -> None:
    await setup.config.set_moderator_channel(GUILD, MOD_CHANNEL, actor_id=MODERATOR)
    await setup.config.set_budget(GUILD, 10, None, actor_id=MODERATOR)
    first = await setup.accepted()
    await setup.repo.move(
        first.renders[0].id, RenderState.FAILED, now=T0, failure_kind=FailureKind.RENDER_FAILED
    )  # refunded: back under 50 %

    await setup.accepted()

    assert setup.alerts() == [("day", 50)]


async def test_spend_alert_without_a_moderator_channel_is_not_posted(setup: Setup) -> None:
    await setup.config.set_budget(GUILD, 10, None, actor_id=MODERATOR)

    result = await setup.accept()

    assert isinstance(result, Accepted)
    assert setup.alerts() == []


async def test_no_alert_while_spending_stays_under_half_the_budget(setup: Setup) -> None:
    await setup.config.set_moderator_channel(GUILD, MOD_CHANNEL, actor_id=MODERATOR)
    await setup.config.set_budget(GUILD, 100, 1000, actor_id=MODERATOR)

    await setup.accepted()

    assert setup.alerts() == []
