"""GenerationService.accept on real storage: reservation, stored images, status message, approvals, spend alerts."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.images import CheckedImage
from bot.domain.models import load_model_table
from bot.domain.quota_types import (
    ApprovalRules,
    Decision,
    GuildRules,
    RefusalReason,
    Requester,
    UsageSnapshot,
)
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import AspectRatio, GenerationMode, ImageRole, ImageSlot, QualityMode, VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.services.generation import Accepted, GenerationService, InputsGone, Refused
from bot.services.ports import PublishUnavailable
from bot.services.retention import CLAIM_GRACE, ImageRetention
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, video_request
from tests.storage.databases import ENGINES, open_database

MODERATOR = 4_000_000_000_000_000_004
MOD_CHANNEL = 5_000_000_000_000_000_005
ROLE = 6_000_000_000_000_000_006
UPLOAD_LIMIT = 25 * 1024 * 1024
MEMBER = Requester(USER)
MODELS = load_model_table()
FIRST_DRAWN_SEED = 1000


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
    holds: ModelHolds

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
    holds = ModelHolds(db)
    seeds = itertools.count(FIRST_DRAWN_SEED)  # "random" seeds the tests can predict
    service = GenerationService(
        renders=repo,
        images=images,
        config=config,
        alerts=AlertRepository(db),
        publisher=publisher,
        models=MODELS,
        default_model="kling-v3",
        wake_tracker=lambda: wakes.append(None),
        holds=holds,
        now=lambda: T0,
        draw_seed=lambda: next(seeds),
    )
    return Setup(service, repo, images, config, publisher, wakes, holds)


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


async def test_images_are_stored_once_the_credits_are_reserved(setup: Setup) -> None:
    image = first_frame()

    result = await setup.accept(image_request(image), images=(image,))

    assert isinstance(result, Accepted)
    assert setup.repo.images_stored_at_reserve == [False]
    assert await setup.images.get(image.sha256) == (image.data, "image/png")


async def test_a_refused_request_stores_no_image(setup: Setup) -> None:
    await setup.config.set_paused(GUILD, True, actor_id=MODERATOR)
    image = first_frame()

    result = await setup.accept(image_request(image), images=(image,))

    assert isinstance(result, Refused) and result.decision.refusal is not None
    assert result.decision.refusal.reason is RefusalReason.PAUSED
    assert await setup.images.get(image.sha256) is None


async def test_a_request_reusing_images_no_longer_kept_is_refused_before_anything_is_reserved(setup: Setup) -> None:
    # Regenerate: the images were stored for the first request, and purged since.
    gone = first_frame()

    with pytest.raises(InputsGone):
        await setup.accept(image_request(gone))

    assert setup.repo.images_stored_at_reserve == []
    assert await setup.used_credits() == 0


async def test_a_request_reusing_stored_images_claims_them_and_is_accepted(db: Database, setup: Setup) -> None:
    kept = first_frame()
    await setup.images.put(kept.sha256, kept.data, kept.mime, now=T0 - timedelta(days=3))

    result = await setup.accept(image_request(kept))

    assert isinstance(result, Accepted)
    # Claimed now, the purge's grace starts again: even with no render needing them (this one failed at once),
    # they stay until the grace is over.
    await setup.repo.move(result.renders[0].id, RenderState.FAILED, now=T0, failure_kind=FailureKind.API_REJECTED)
    retention = ImageRetention(images=setup.images, renders=setup.repo, keep_days=7)
    assert await retention.purge(T0 + CLAIM_GRACE - timedelta(seconds=1)) == 0
    assert await retention.purge(T0 + CLAIM_GRACE + timedelta(seconds=1)) == 1


class PausedWhileReserving(ImagesCheckedAtReserve):
    """The moderators pause the guild after accept() read its rules and before its reservation lands."""

    config: GuildConfigRepository

    async def reserve(
        self,
        new: list[NewRender],
        decide: Callable[[UsageSnapshot], Decision],
        *,
        now: datetime,
        first_look_at: datetime | None = None,
    ) -> tuple[Decision, list[RenderRecord]]:
        await self.config.set_paused(GUILD, True, actor_id=MODERATOR)
        await self.refund_unsent(GUILD, FailureKind.PAUSED, now=now)  # what the pause does: nothing to find yet
        return await super().reserve(new, decide, now=now, first_look_at=first_look_at)


async def test_a_request_decided_just_before_a_pause_is_refunded_after_all(db: Database, setup: Setup) -> None:
    repo = PausedWhileReserving(db, setup.images)
    repo.config = setup.config
    service = GenerationService(
        renders=repo,
        images=setup.images,
        config=setup.config,
        alerts=AlertRepository(db),
        publisher=setup.publisher,
        models=MODELS,
        default_model="kling-v3",
        wake_tracker=lambda: None,
        now=lambda: T0,
    )

    result = await service.accept(
        guild_id=GUILD,
        channel_id=CHANNEL,
        requester=MEMBER,
        request=video_request(),
        images=(),
        upload_limit=UPLOAD_LIMIT,
    )

    assert isinstance(result, Accepted)
    [render] = await repo.list_group(result.renders[0].group_id)
    assert (render.state, render.failure_kind) == (RenderState.FAILED, FailureKind.PAUSED)
    assert await setup.used_credits() == 0
    [post] = setup.publisher.posts
    assert post.render is not None and post.render.state is RenderState.FAILED  # the card says so from the start


async def test_status_message_is_posted_and_remembered(setup: Setup) -> None:
    result = await setup.accepted()

    [post] = setup.publisher.posts
    [render] = result.renders
    assert render.status_message_id == post.message_id
    stored = await setup.repo.get(render.id)
    assert stored is not None and stored.status_message_id == post.message_id


async def test_a_status_post_that_loses_the_race_to_the_tracker_is_deleted(setup: Setup) -> None:
    tracker_message = 777

    async def slow_post(render: RenderRecord, group: Sequence[RenderRecord] = ()) -> int:
        # Discord was slow: by the time our post returns, the tracker has posted and recorded its own.
        await setup.repo.update(render.id, now=T0, status_message_id=tracker_message)
        return await RecordingPublisher.post_status(setup.publisher, render, group)

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
        tracker = Tracker(
            setup.repo,
            setup.images,
            api,
            setup.publisher,
            TrackerConfig("t", tmp_path),
            models=MODELS,
            clock=Clock(now=lambda: T0),
        )

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
    # One card for the three takes, showing each, and every take points to it.
    (card,) = setup.publisher.posts
    assert card.details["group"] == [r.id for r in result.renders]
    assert {r.status_message_id for r in result.renders} == {card.message_id}


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


# ---- models: cost, seeds, availability ------------------------------------------------------------------


def veo(*, takes: int = 1, seed: int | None = 7, mode: QualityMode = QualityMode.PRO) -> VideoRequest:
    return VideoRequest(
        prompt="a lighthouse in a storm",
        generation_mode=GenerationMode.TEXT,
        mode=mode,
        duration=8,
        aspect_ratio=AspectRatio.WIDE,
        takes=takes,
        model="veo-3.1",
        sound=True,
        seed=seed,
    )


def kling(*, sound: bool | None = None, takes: int = 1) -> VideoRequest:
    return replace(video_request(takes=takes), model="kling-v3", sound=sound)


@pytest.mark.parametrize(
    ("request_", "cost"),
    [
        pytest.param(veo(), 48, id="veo-pro-8s-sound"),
        pytest.param(veo(mode=QualityMode.STD), 40, id="veo-std-8s-sound"),
        pytest.param(replace(veo(), sound=False), 32, id="veo-pro-8s-silent"),
        pytest.param(kling(sound=False), 5, id="kling-std-5s-silent"),
        pytest.param(kling(sound=True), 10, id="kling-std-5s-sound"),
    ],
)
async def test_cost_is_the_models_rate_per_second(setup: Setup, request_: VideoRequest, cost: int) -> None:
    result = await setup.accepted(request_)

    assert [r.cost for r in result.renders] == [cost]
    assert result.decision.cost == cost
    assert await setup.used_credits() == cost


async def test_preview_charges_the_models_rate_too(setup: Setup) -> None:
    decision = await setup.service.preview(guild_id=GUILD, channel_id=CHANNEL, requester=MEMBER, request=veo())

    assert decision.cost == 48


async def test_takes_of_a_dear_model_are_each_charged_in_full(setup: Setup) -> None:
    await setup.config.set_default_daily_credits(GUILD, 500, actor_id=MODERATOR)
    result = await setup.accepted(veo(takes=2))

    assert [r.cost for r in result.renders] == [48, 48]
    assert await setup.used_credits() == 96


async def test_each_take_gets_the_next_seed_from_the_members(setup: Setup) -> None:
    await setup.config.set_default_daily_credits(GUILD, 500, actor_id=MODERATOR)
    result = await setup.accepted(veo(takes=3, seed=7))

    assert [r.request.seed for r in result.renders] == [7, 8, 9]
    stored = [await setup.repo.get(r.id) for r in result.renders]
    assert [r.request.seed for r in stored if r is not None] == [7, 8, 9]


async def test_each_take_gets_a_seed_of_its_own_when_the_member_gave_none(setup: Setup) -> None:
    await setup.config.set_default_daily_credits(GUILD, 500, actor_id=MODERATOR)
    result = await setup.accepted(veo(takes=3, seed=None))

    assert [r.request.seed for r in result.renders] == [FIRST_DRAWN_SEED, FIRST_DRAWN_SEED + 1, FIRST_DRAWN_SEED + 2]


async def test_a_model_without_a_seed_stores_none(setup: Setup) -> None:
    result = await setup.accepted(kling(takes=2))

    assert [r.request.seed for r in result.renders] == [None, None]


def test_regenerate_draws_a_fresh_seed_for_a_model_that_takes_one(setup: Setup) -> None:
    fresh = setup.service.fresh_seed(veo(seed=7))

    assert fresh.seed == FIRST_DRAWN_SEED
    assert replace(fresh, seed=7) == veo(seed=7)  # nothing else changes


def test_regenerate_keeps_a_seedless_model_seedless(setup: Setup) -> None:
    assert setup.service.fresh_seed(kling()) == kling()


class ModelsTurnedOff(GuildConfigRepository):
    """The server's rules with some models turned off, and a default picked, by its moderators."""

    def __init__(self, db: Database, disabled: frozenset[str] = frozenset(), default: str = "wan-2.6") -> None:
        super().__init__(db)
        self._disabled = disabled
        self._default = default

    async def rules(self, guild_id: int) -> GuildRules:
        return replace(await super().rules(guild_id), disabled_models=self._disabled, default_model=self._default)


def service_with(setup: Setup, db: Database, config: GuildConfigRepository) -> GenerationService:
    return GenerationService(
        renders=setup.repo,
        images=setup.images,
        config=config,
        alerts=AlertRepository(db),
        publisher=setup.publisher,
        models=MODELS,
        default_model="kling-v3",
        wake_tracker=lambda: None,
        holds=setup.holds,
        now=lambda: T0,
    )


async def test_model_choice_is_the_table_with_the_servers_default(setup: Setup) -> None:
    choice = await setup.service.model_choice(GUILD)

    assert choice.default == "kling-v3"
    assert choice.unavailable == {}
    assert [spec.key for spec in choice.usable()] == [spec.key for spec in MODELS.enabled()]


async def test_model_choice_leaves_out_models_turned_off_or_held(setup: Setup, db: Database) -> None:
    service = service_with(setup, db, ModelsTurnedOff(db, frozenset({"seedance-2.0", "veo-3.1"})))
    await setup.holds.hold("veo-3.1", T0 + timedelta(minutes=30))
    await setup.holds.hold("vidu-q3", T0 + timedelta(minutes=30))

    choice = await service.model_choice(GUILD)

    assert choice.default == "wan-2.6"
    assert choice.unavailable["seedance-2.0"] == "it is turned off in this server"
    assert choice.unavailable["veo-3.1"] == "it is turned off in this server"  # the moderators' word wins
    assert choice.unavailable["vidu-q3"].startswith("ModelStream can't run it at the moment (back <t:")
    assert "seedance-2.0" not in [spec.key for spec in choice.usable()]


async def test_a_server_default_the_table_no_longer_has_falls_back_to_the_bots(setup: Setup, db: Database) -> None:
    service = service_with(setup, db, ModelsTurnedOff(db, default="veo-2"))

    choice = await service.model_choice(GUILD)

    assert choice.default == "kling-v3"
