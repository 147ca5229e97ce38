"""ImageRetention on real storage (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set): stored images live as
long as a render needs them, and for IMAGE_RETENTION_DAYS after a delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.quota_types import Decision
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import GenerationMode, ImageRole, ImageSlot
from bot.domain.states import FailureKind, RenderState
from bot.services.retention import CLAIM_GRACE, ImageRetention
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from tests.storage.builders import CHANNEL, GUILD, T0, USER, add_render, video_request
from tests.storage.databases import ENGINES, open_database

KEEP_DAYS = 7
STORED_AT = T0 - timedelta(days=30)  # long past the claim grace
NOW = T0


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(str(request.param), tmp_path) as database:
        yield database


@pytest.fixture
def images(db: Database) -> ImageStore:
    return ImageStore(db)


@pytest.fixture
def renders(db: Database) -> RenderRepository:
    return RenderRepository(db)


@pytest.fixture
def retention(images: ImageStore, renders: RenderRepository) -> ImageRetention:
    return ImageRetention(images=images, renders=renders, keep_days=KEEP_DAYS)


def sha(name: str) -> str:
    return name.encode().hex().ljust(64, "0")


async def with_images(
    renders: RenderRepository, images: ImageStore, *names: str, state: RenderState = RenderState.ACCEPTED
) -> RenderRecord:
    """A render whose request uses the named images (stored long ago), reserved at STORED_AT."""
    slots = tuple(ImageSlot(ImageRole.REFERENCE, index, sha(name)) for index, name in enumerate(names, start=1))
    request = replace(video_request(), generation_mode=GenerationMode.REFERENCE, images=slots)
    for name in names:
        await images.put(sha(name), name.encode(), "image/png", now=STORED_AT)
    new = NewRender(GUILD, CHANNEL, USER, request, 5, 25 * 1024 * 1024, state)
    _, [render] = await renders.reserve([new], lambda usage: Decision(cost=5), now=STORED_AT)
    return render


async def move_through(renders: RenderRepository, render: RenderRecord, *states: RenderState, at: datetime) -> None:
    for state in states:
        moved = await renders.move(render.id, state, now=at)
        assert moved is not None, state


async def deliver(renders: RenderRepository, render: RenderRecord, *, at: datetime) -> None:
    steps = (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.SUCCEEDED, RenderState.DELIVERED)
    await move_through(renders, render, *steps, at=at)


async def kept(images: ImageStore, *names: str) -> set[str]:
    found = await images.get_many(sha(name) for name in names)
    return {name for name in names if sha(name) in found}


async def test_images_live_while_a_render_needs_them_and_no_longer(
    retention: ImageRetention, renders: RenderRepository, images: ImageStore
) -> None:
    await with_images(renders, images, "queued")
    await with_images(renders, images, "held", state=RenderState.AWAITING_APPROVAL)
    rendering = await with_images(renders, images, "rendering")
    await move_through(renders, rendering, RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING, at=T0)
    fresh = await with_images(renders, images, "delivered-2-days-ago")
    await deliver(renders, fresh, at=NOW - timedelta(days=2))
    old = await with_images(renders, images, "delivered-8-days-ago")
    await deliver(renders, old, at=NOW - timedelta(days=8))
    failed = await with_images(renders, images, "failed")
    await renders.move(failed.id, RenderState.FAILED, now=NOW, failure_kind=FailureKind.API_REJECTED)
    denied = await with_images(renders, images, "denied", state=RenderState.AWAITING_APPROVAL)
    await renders.move(denied.id, RenderState.DENIED, now=NOW)
    await images.put(sha("orphan"), b"left by a crash", "image/png", now=STORED_AT)

    deleted = await retention.purge(NOW)

    assert deleted == 4
    everything = (
        "queued",
        "held",
        "rendering",
        "delivered-2-days-ago",
        "delivered-8-days-ago",
        "failed",
        "denied",
        "orphan",
    )
    assert await kept(images, *everything) == {"queued", "held", "rendering", "delivered-2-days-ago"}


async def test_an_image_shared_with_a_render_still_running_stays(
    retention: ImageRetention, renders: RenderRepository, images: ImageStore
) -> None:
    failed = await with_images(renders, images, "shared", "only-failed")
    await renders.move(failed.id, RenderState.FAILED, now=NOW, failure_kind=FailureKind.API_REJECTED)
    await with_images(renders, images, "shared")

    await retention.purge(NOW)

    assert await kept(images, "shared", "only-failed") == {"shared"}


async def test_images_of_a_render_refunded_by_a_pause_go_at_the_next_purge(
    retention: ImageRetention, renders: RenderRepository, images: ImageStore
) -> None:
    await with_images(renders, images, "paused")
    await renders.refund_unsent(GUILD, FailureKind.PAUSED, now=NOW)

    assert await retention.purge(NOW) == 1
    assert await kept(images, "paused") == set()


async def test_an_image_claimed_within_the_grace_stays_though_no_render_uses_it_yet(
    retention: ImageRetention, images: ImageStore
) -> None:
    # A request between storing its images and reserving its renders (or a Regenerate between claiming and
    # reserving) has no render on record yet.
    await images.put(sha("just-stored"), b"new", "image/png", now=NOW - CLAIM_GRACE + timedelta(seconds=1))

    assert await retention.purge(NOW) == 0
    assert await retention.purge(NOW + timedelta(seconds=2)) == 1


async def test_text_only_renders_are_no_trouble(
    retention: ImageRetention, renders: RenderRepository, images: ImageStore
) -> None:
    await add_render(renders, now=STORED_AT)
    await images.put(sha("orphan"), b"x", "image/png", now=STORED_AT)

    assert await retention.purge(NOW) == 1


async def test_a_longer_retention_keeps_older_deliveries(renders: RenderRepository, images: ImageStore) -> None:
    old = await with_images(renders, images, "delivered-8-days-ago")
    await deliver(renders, old, at=NOW - timedelta(days=8))

    month = ImageRetention(images=images, renders=renders, keep_days=30)

    assert await month.purge(NOW) == 0


class Watched(ImageRetention):
    """Counts purges, failing the first one, so the loop can be watched without a clock."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.purges = 0
        self.second = asyncio.Event()

    async def purge(self, now: datetime) -> int:
        self.purges += 1
        if self.purges == 1:
            raise ConnectionError("database went away for a moment")
        deleted = await super().purge(now)
        self.second.set()
        return deleted


async def test_the_loop_purges_at_start_up_survives_a_failure_and_stops(
    renders: RenderRepository, images: ImageStore, caplog: pytest.LogCaptureFixture
) -> None:
    await images.put(sha("orphan"), b"x", "image/png", now=STORED_AT)
    loop = Watched(images=images, renders=renders, keep_days=KEEP_DAYS, now=lambda: NOW, interval=timedelta(0))

    running = asyncio.create_task(loop.run())
    await asyncio.wait_for(loop.second.wait(), timeout=30)
    loop.stop()
    await asyncio.wait_for(running, timeout=30)

    assert await kept(images, "orphan") == set()
    assert "image purge failed" in caplog.text
