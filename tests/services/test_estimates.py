"""The estimates service: measured from the database, read again at most once a minute, answered from memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.request import QualityMode, VideoRequest
from bot.services.estimates import Estimates
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.services.render_history import add_finished
from tests.storage.builders import T0, video_request
from tests.storage.databases import open_database

STD5 = video_request()
PRO5 = replace(STD5, mode=QualityMode.PRO)


class FakeNow:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingRepository(RenderRepository):
    """The real repository, counting its reads of durations and failing them on demand (a database outage)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.reads = 0
        self.down = False

    async def recent_durations(self, limit: int = 500) -> list[tuple[str, str, int, float]]:
        self.reads += 1
        if self.down:
            raise ConnectionError("database unreachable")
        return await super().recent_durations(limit)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database("sqlite", tmp_path) as database:
        yield database


@pytest.fixture
def repo(db: Database) -> CountingRepository:
    return CountingRepository(db)


@pytest.fixture
def clock() -> FakeNow:
    return FakeNow(T0)


async def history(repo: RenderRepository, request: VideoRequest, *seconds: float, at: datetime = T0) -> None:
    for n, taken in enumerate(seconds):
        await add_finished(repo, request, taken, finished_at=at - timedelta(minutes=n))


async def test_no_history_gives_no_estimate(repo: CountingRepository, clock: FakeNow) -> None:
    estimates = Estimates(repo, now=clock)

    assert await estimates.estimate(STD5) is None
    assert estimates.cached(STD5) is None


async def test_estimate_is_measured_from_the_finished_renders_of_the_kind(
    repo: CountingRepository, clock: FakeNow
) -> None:
    await history(repo, STD5, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210)
    estimates = Estimates(repo, now=clock)

    found = await estimates.estimate(STD5)

    assert found is not None
    assert (found.low, found.median, found.p90, found.samples, found.exact) == (120, 160, 200, 10, True)
    assert estimates.cached(STD5) == found


async def test_the_database_is_read_again_only_once_a_minute(repo: CountingRepository, clock: FakeNow) -> None:
    await history(repo, STD5, *[120.0] * 5)
    estimates = Estimates(repo, now=clock)
    assert (first := await estimates.estimate(STD5)) is not None and first.median == 120.0

    # Slower renders finish meanwhile: every poll within the minute is answered from memory.
    await history(repo, STD5, *[300.0] * 10, at=T0 + timedelta(seconds=30))
    for _ in range(20):
        clock.advance(2.9)
        assert await estimates.estimate(STD5) == first
    assert repo.reads == 1

    clock.advance(2.0)  # a minute since the first read
    later = await estimates.estimate(STD5)

    assert later is not None and later.median == 300.0
    assert repo.reads == 2


async def test_polls_asking_together_share_one_read(repo: CountingRepository, clock: FakeNow) -> None:
    await history(repo, STD5, *[120.0] * 5)
    estimates = Estimates(repo, now=clock)

    found = await asyncio.gather(*(estimates.estimate(STD5) for _ in range(10)))

    assert all(f is not None and f.median == 120.0 for f in found)
    assert repo.reads == 1


async def test_a_kind_without_history_is_estimated_from_its_model(repo: CountingRepository, clock: FakeNow) -> None:
    await history(repo, STD5, 100, 110, 120, 130, 140)
    estimates = Estimates(repo, now=clock)

    found = await estimates.estimate(PRO5)

    assert found is not None
    assert (found.exact, found.median, found.kind.quality) == (False, 120, "pro")


async def test_a_database_outage_keeps_the_last_estimate_and_asks_again_a_minute_later(
    repo: CountingRepository, clock: FakeNow
) -> None:
    await history(repo, STD5, *[120.0] * 5)
    estimates = Estimates(repo, now=clock)
    before = await estimates.estimate(STD5)
    repo.down = True

    clock.advance(60)
    during = [await estimates.estimate(STD5) for _ in range(5)]

    assert during == [before] * 5
    assert repo.reads == 2  # one failed read, not one per poll
    repo.down = False
    clock.advance(60)
    assert await estimates.estimate(STD5) == before
    assert repo.reads == 3
