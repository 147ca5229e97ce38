"""A compare is accepted as one group: one render per model, each with its own model, seed and cost, reserved
together (all or nothing) against the member's credits for the total."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain.compare import member_costs
from bot.domain.models import load_model_table
from bot.domain.quota_types import GuildRules, RefusalReason, Requester
from bot.domain.request import QualityMode, VideoRequest
from bot.services.generation import Accepted, GenerationService, Refused
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, video_request
from tests.storage.databases import open_database

MODELS = load_model_table()
MEMBER = Requester(USER)


def members(*models: str, duration: int = 8, mode: QualityMode = QualityMode.STD) -> list[VideoRequest]:
    return [replace(video_request(), model=model, duration=duration, mode=mode, seed=None) for model in models]


EACH_FITS = members("kling-v3", "veo-3.1")
DAILY = max(member_costs(EACH_FITS, MODELS))  # each model alone fits the member's credits, both together don't


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[GenerationService, RenderRepository]]:
    async with open_database("sqlite", tmp_path) as db:
        yield build(db), RenderRepository(db)


def build(db: Database) -> GenerationService:
    seeds = itertools.count(1000)
    return GenerationService(
        renders=RenderRepository(db),
        images=ImageStore(db),
        config=GuildConfigRepository(db, GuildRules(default_daily_credits=DAILY, max_in_flight_per_member=None)),
        alerts=AlertRepository(db),
        publisher=RecordingPublisher(),
        models=MODELS,
        default_model="kling-v3",
        wake_tracker=lambda: None,
        now=lambda: T0,
        draw_seed=lambda: next(seeds),
    )


async def compare(service: GenerationService, requests: list[VideoRequest]) -> Accepted | Refused:
    return await service.accept(
        guild_id=GUILD,
        channel_id=CHANNEL,
        requester=MEMBER,
        request=replace(requests[0], takes=len(requests)),
        images=(),
        upload_limit=25 * 1024 * 1024,
        members=requests,
    )


async def test_one_render_per_model_in_one_group_each_at_its_own_cost(
    service: tuple[GenerationService, RenderRepository],
) -> None:
    generation, repo = service
    requests = members("kling-v3", "wan-2.6", duration=5)

    result = await compare(generation, requests)

    assert isinstance(result, Accepted)
    renders = result.renders
    assert [r.request.model for r in renders] == ["kling-v3", "wan-2.6"]
    assert len({r.group_id for r in renders}) == 1
    assert [(r.take_index, r.takes) for r in renders] == [(1, 2), (2, 2)]
    assert [r.cost for r in renders] == member_costs(requests, MODELS)
    assert result.decision.cost == sum(r.cost for r in renders)
    assert all(r.request.takes == 1 for r in renders)
    assert (await repo.member_snapshot(GUILD, USER, T0)).member_used_today == result.decision.cost


async def test_models_that_take_a_seed_each_get_their_own(service: tuple[GenerationService, RenderRepository]) -> None:
    result = await compare(service[0], members("kling-v3", "wan-2.6", duration=5))

    assert isinstance(result, Accepted)
    seeds = [r.request.seed for r in result.renders]
    assert seeds[1] is not None  # Wan takes a seed: one is drawn, and the card shows it to repeat the clip


async def test_the_credits_must_cover_the_total_and_nothing_is_reserved_otherwise(
    service: tuple[GenerationService, RenderRepository],
) -> None:
    generation, repo = service
    total = sum(member_costs(EACH_FITS, MODELS))

    preview = await generation.preview(
        guild_id=GUILD, channel_id=CHANNEL, requester=MEMBER, request=replace(EACH_FITS[0], takes=2), members=EACH_FITS
    )
    result = await compare(generation, EACH_FITS)

    assert preview.refusal is not None and preview.refusal.reason is RefusalReason.MEMBER_DAILY
    assert preview.cost == total
    assert isinstance(result, Refused) and result.decision.cost == total
    assert (await repo.member_snapshot(GUILD, USER, T0)).member_used_today == 0
