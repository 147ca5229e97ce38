"""ChainService: a delivered clip fetched back (its message's file, the kept download, its result URL), its last
frame, and a chain stitched and posted all or nothing. Real MP4s (PyAV) served by the fake gateway, real storage,
the real video worker; the chat side is a recording fake."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import delete

from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.media import CannotFit, VideoWorker
from bot.services.chains import BrokenChain, ChainService, ClipUnavailable, NotDelivered, StitchBusy
from bot.services.ports import UploadTooLarge
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from bot.storage.tables import renders
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi
from tests.media.clips import BLUE, GREEN, RED, YELLOW, Colour, close, files_in, png_colour, solid_clip, watch
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request
from tests.storage.databases import open_database

CLIP_MESSAGE = 555


@dataclass
class FakeChat:
    """The chat side: which clip URL each result message carries, and what was posted."""

    message_urls: dict[str, str] = field(default_factory=dict)
    posts: list[dict[str, object]] = field(default_factory=list)
    refuse_with: Exception | None = None
    gate: asyncio.Event | None = None  # result_clip_url waits for it (a stitch held half-way)
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def result_clip_url(self, render: RenderRecord) -> str | None:
        self.asked.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.message_urls.get(render.id)

    async def post_stitched(
        self, channel_id: int, reply_to: int | None, path: Path, filename: str, content: str
    ) -> int:
        if self.refuse_with is not None:
            raise self.refuse_with
        # Kept outside the service's folders, which must end up empty: the service deletes what it posted.
        posted = path.parent.parent / f"posted-{len(self.posts)}.mp4"
        await asyncio.to_thread(shutil.copyfile, path, posted)
        self.posts.append(
            {"channel": channel_id, "reply_to": reply_to, "file": posted, "name": filename, "content": content}
        )
        return 4242


@dataclass
class World:
    service: ChainService
    db: Database
    repo: RenderRepository
    api: FakeVideoApi
    chat: FakeChat
    tmp: Path
    scratch: Path
    kept: Path

    def clip(self, name: str, colours: Sequence[Colour], **options: object) -> Path:
        return solid_clip(self.tmp / f"{name}.mp4", colours, **options)  # type: ignore[arg-type]

    def served(self, clip: Path) -> str:
        """The URL at which the fake gateway serves `clip` (as a result URL, or as Discord's CDN would)."""
        task_id = self.api.add_task(video_file=str(clip))
        return f"{self.api.base_url}/files/{task_id}.mp4"

    async def delivered(
        self,
        clip: Path | None,
        *,
        parent: RenderRecord | None = None,
        in_message: bool = True,
        duration: int = 1,
        state: RenderState = RenderState.DELIVERED,
    ) -> RenderRecord:
        """A delivered render whose clip is `clip`: attached to its message, or only at its result URL."""
        request = replace(video_request(), duration=duration)
        new = NewRender(
            GUILD,
            CHANNEL,
            USER,
            request,
            5,
            25 * 1024 * 1024,
            RenderState.ACCEPTED,
            parent_id=parent.id if parent else None,
            chain_position=(parent.chain_position or 1) + 1 if parent else None,
        )
        _, [render] = await self.repo.reserve([new], accept_all, now=T0)
        url = self.served(clip) if clip is not None else None
        await self.repo.move(render.id, RenderState.SUBMITTING, now=T0)
        await self.repo.move(render.id, RenderState.QUEUED, now=T0, task_id=f"task-{render.id}")
        await self.repo.move(render.id, RenderState.SUCCEEDED, now=T0, video_url=url)
        if state is RenderState.DELIVERED:
            await self.repo.move(render.id, RenderState.DELIVERED, now=T0, result_message_id=CLIP_MESSAGE)
        if parent is not None and parent.chain_position is None:
            await self.repo.update(parent.id, now=T0, chain_position=1)
        if clip is not None and in_message:
            self.chat.message_urls[render.id] = self.served(clip)
        stored = await self.repo.get(render.id)
        assert stored is not None
        return stored

    async def chain(self, colours: Sequence[Colour], **clip_options: object) -> list[RenderRecord]:
        renders: list[RenderRecord] = []
        for index, colour in enumerate(colours):
            clip = self.clip(f"shot-{index}", [colour], frames_each=10, **clip_options)
            renders.append(await self.delivered(clip, parent=renders[-1] if renders else None))
        return renders


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        open_database("sqlite", tmp_path) as db,
        FakeVideoApi() as api,
        aiohttp.ClientSession() as session,
    ):
        yield build_world(db, api, session, tmp_path)


def build_world(db: Database, api: FakeVideoApi, session: aiohttp.ClientSession, tmp_path: Path) -> World:
    repo = RenderRepository(db)
    client = VideoApiClient(session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=1))
    chat = FakeChat()
    scratch, kept = tmp_path / "work" / "chains", tmp_path / "work" / "clips"
    service = ChainService(
        renders=repo,
        api=client,
        chat=chat,
        media=VideoWorker(work_dir=tmp_path / "work" / "video"),
        work_dir=scratch,
        kept_clips=kept,
        max_clip_bytes=50 * 1024 * 1024,
    )
    return World(service, db, repo, api, chat, tmp_path, scratch, kept)


# ---- the last frame -----------------------------------------------------------------------------------------


async def test_the_last_frame_comes_from_the_file_in_the_clips_message(world: World) -> None:
    render = await world.delivered(world.clip("clip", [RED, GREEN, BLUE]))

    png = await world.service.last_frame(render)

    assert close(png_colour(png), BLUE)
    assert files_in(world.scratch) == []


async def test_without_a_file_in_its_message_the_clip_is_fetched_again_from_its_url(world: World) -> None:
    render = await world.delivered(world.clip("clip", [RED, YELLOW]), in_message=False)

    png = await world.service.last_frame(render)

    assert close(png_colour(png), YELLOW)
    assert any(call.path.startswith("/files/") for call in world.api.calls("GET"))


async def test_a_clip_the_tracker_still_keeps_is_read_from_disk(world: World) -> None:
    render = await world.delivered(None)
    world.kept.mkdir(parents=True)
    world.clip("kept", [GREEN, RED]).rename(world.kept / f"{render.id}.mp4")

    png = await world.service.last_frame(render)

    assert close(png_colour(png), RED)
    assert (world.kept / f"{render.id}.mp4").exists()  # the tracker's file is left where it was


async def test_a_clip_with_no_source_left_is_unavailable(world: World) -> None:
    render = await world.delivered(None)

    with pytest.raises(ClipUnavailable):
        await world.service.last_frame(render)
    assert files_in(world.scratch) == []


async def test_only_a_delivered_clip_has_a_last_frame(world: World) -> None:
    render = await world.delivered(world.clip("clip", [RED]), state=RenderState.SUCCEEDED)

    with pytest.raises(NotDelivered):
        await world.service.last_frame(render)


# ---- stitching ----------------------------------------------------------------------------------------------


async def stitch(world: World, render: RenderRecord, max_bytes: int = 10 * 1024 * 1024) -> object:
    return await world.service.stitch(
        render,
        channel_id=CHANNEL,
        reply_to=CLIP_MESSAGE,
        max_bytes=max_bytes,
        content=lambda clips: f"{len(clips)} clips",
    )


async def test_a_chain_is_joined_in_order_and_posted_once_with_the_chains_length(world: World) -> None:
    first, second, third = await world.chain([RED, GREEN, BLUE])

    result = await stitch(world, third)

    [post] = world.chat.posts
    assert (post["channel"], post["reply_to"], post["content"]) == (CHANNEL, CLIP_MESSAGE, "3 clips")
    seen = watch(post["file"])  # type: ignore[arg-type]
    assert seen.duration == pytest.approx(3 * watch(world.tmp / "shot-0.mp4").duration, abs=0.1)
    order = [colour for index, colour in enumerate(seen.colours) if index % 10 == 5]
    assert [close(a, b) for a, b in zip(order, [RED, GREEN, BLUE], strict=True)] == [True] * 3
    assert [clip.id for clip in result.clips] == [first.id, second.id, third.id]  # type: ignore[attr-defined]
    assert files_in(world.scratch) == []


async def test_clips_of_different_formats_are_re_encoded_into_one(world: World) -> None:
    first = await world.delivered(world.clip("a", [RED], frames_each=10, size=(64, 48)))
    second = await world.delivered(world.clip("b", [BLUE], frames_each=10, size=(96, 48), fps=20), parent=first)

    await stitch(world, second)

    seen = watch(world.chat.posts[0]["file"])  # type: ignore[arg-type]
    assert (seen.width, seen.height) == (64, 48)
    assert seen.duration == pytest.approx(1.5, abs=0.1)


async def test_a_chain_too_long_to_fit_even_re_encoded_posts_nothing(world: World) -> None:
    *_, last = await world.chain([RED, GREEN])

    with pytest.raises(CannotFit):
        await stitch(world, last, max_bytes=2_000)

    assert world.chat.posts == []
    assert files_in(world.scratch) == [] and files_in(world.tmp / "work" / "video") == []


async def test_a_post_refused_leaves_nothing_behind(world: World) -> None:
    *_, last = await world.chain([RED, GREEN])
    world.chat.refuse_with = UploadTooLarge("413")

    with pytest.raises(UploadTooLarge):
        await stitch(world, last)

    assert files_in(world.scratch) == [] and files_in(world.tmp / "work" / "video") == []


async def test_a_chain_with_a_clip_gone_from_storage_is_broken(world: World) -> None:
    first, second = await world.chain([RED, GREEN])
    async with world.db.write() as conn:  # gone from the database, as after an operator's cleanup
        await conn.execute(delete(renders).where(renders.c.id == first.id))

    with pytest.raises(BrokenChain):
        await stitch(world, second)
    assert world.chat.posts == []


async def test_a_second_press_while_the_chain_is_being_stitched_is_told_so(world: World) -> None:
    *_, last = await world.chain([RED, GREEN])
    world.chat.gate = asyncio.Event()
    running = asyncio.ensure_future(stitch(world, last))
    await world.chat.asked.wait()

    with pytest.raises(StitchBusy):
        await stitch(world, last)

    world.chat.gate.set()
    await running
    assert len(world.chat.posts) == 1
