"""Clips that fit: a clip over the upload limit is re-encoded under it (the original's link beside it) before it is
linked. The real tracker, storage, API client and video worker, with real MP4s (PyAV) served by the fake gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.media import VideoWorker
from bot.services.ports import PublishUnavailable, UploadTooLarge
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi
from tests.media.clips import RED, close, noise_clip, watch
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request
from tests.storage.databases import open_database

MB = 1024 * 1024


class CountingWorker(VideoWorker):
    """The real worker, counting the re-encodes it is asked for."""

    fits = 0

    async def fit(self, path: Path, max_bytes: int) -> Path:
        self.fits += 1
        return await super().fit(path, max_bytes)


@dataclass
class Harness:
    tracker: Tracker
    repo: RenderRepository
    api: FakeVideoApi
    publisher: RecordingPublisher
    media: CountingWorker
    work_dir: Path
    clock: Callable[[], Any]

    async def add(self, *, upload_limit: int) -> RenderRecord:
        new = NewRender(GUILD, CHANNEL, USER, video_request(), 5, upload_limit, RenderState.ACCEPTED)
        _, [render] = await self.repo.reserve([new], accept_all, now=T0)
        return render

    async def finish(self, render_id: str) -> RenderRecord:
        """Let the tracker carry the render to its end, moving time on to each next look."""
        for _ in range(50):
            await self.tracker.run_until_idle()
            render = await self.repo.get(render_id)
            assert render is not None
            if render.closed:
                return render
            assert render.next_poll_at is not None
            self.now = max(self.now, render.next_poll_at)
        raise AssertionError("the render never closed")

    @property
    def now(self) -> Any:
        return self.clock()

    @now.setter
    def now(self, value: Any) -> None:
        self.clock.now = value  # type: ignore[attr-defined]

    def kept_clips(self) -> list[Path]:
        folder = self.work_dir / "clips"
        return sorted(folder.iterdir()) if folder.exists() else []


class MovableNow:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> Any:
        return self.now


async def no_sleep(delay: float) -> None:
    return None


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[Callable[..., Harness]]:
    async with (
        open_database("sqlite", tmp_path) as db,
        FakeVideoApi() as api,
        aiohttp.ClientSession() as session,
    ):
        client = VideoApiClient(session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=1), sleep=no_sleep)

        def build(**config: Any) -> Harness:
            clock = MovableNow()
            repo = RenderRepository(db)
            publisher = RecordingPublisher()
            media = CountingWorker(work_dir=tmp_path / "video")
            work_dir = tmp_path / "work"
            settings = TrackerConfig(
                owner="tracker", work_dir=work_dir, poll_interval=10.0, status_calls_per_second=1_000_000.0, **config
            )
            tracker = Tracker(
                repo,
                ImageStore(db),
                client,
                publisher,
                settings,
                models=load_model_table(),
                clock=Clock(now=clock, sleep=no_sleep),
                media=media,
            )
            return Harness(tracker, repo, api, publisher, media, work_dir, clock)

        yield build


@pytest.fixture(autouse=True)
def no_step_crashes(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO)
    yield
    crashes = [r for r in caplog.records if r.name == "bot.services.tracker" and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


def size_of(path: Path) -> int:
    return path.stat().st_size


@pytest.fixture
def big_clip(tmp_path: Path) -> Path:
    """About a megabyte of noise (hard to squeeze), with sound, a red block in the middle of every frame."""
    clip = noise_clip(tmp_path / "big.mp4", size=(320, 240), frames=20, audio=True, centres=[RED])
    assert clip.stat().st_size > 600_000
    return clip


async def test_a_clip_over_the_upload_limit_is_re_encoded_under_it_and_still_plays(
    make_harness: Callable[..., Harness], big_clip: Path, tmp_path: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    render = await harness.add(upload_limit=150_000)

    done = await harness.finish(render.id)

    [delivery] = harness.publisher.deliveries
    assert delivery.method == "deliver_fitted"
    assert delivery.details["size"] <= 150_000
    posted = tmp_path / "posted.mp4"
    posted.write_bytes(delivery.details["data"])
    seen, original = watch(posted), watch(big_clip)
    assert (seen.frames, seen.width) == (original.frames, original.width)
    assert seen.audio_seconds == pytest.approx(original.audio_seconds, abs=0.1)
    assert all(close(colour, RED) for colour in seen.colours)
    assert (done.state, done.result_message_id) == (RenderState.DELIVERED, delivery.message_id)
    assert done.video_url is not None  # what the message links beside the smaller file
    assert harness.kept_clips() == []


async def test_a_clip_too_long_to_fit_even_re_encoded_is_linked(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    render = await harness.add(upload_limit=3_000)

    done = await harness.finish(render.id)

    [link] = harness.publisher.deliveries
    assert (link.method, link.details["url"]) == ("deliver_link", done.video_url)
    assert harness.publisher.calls("deliver_file", succeeded_only=False) == []
    assert harness.kept_clips() == []


async def test_a_clip_that_is_no_video_ffmpeg_reads_is_linked(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    harness.api.configure(video_size=300_000)  # mp4-looking bytes, but no video in them
    render = await harness.add(upload_limit=100_000)

    await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]


async def test_a_clip_over_the_bots_own_cap_is_linked_without_downloading(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness(max_clip_bytes=size_of(big_clip) - 1)
    harness.api.configure(video_file=str(big_clip))
    render = await harness.add(upload_limit=150_000)

    await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]
    assert harness.media.fits == 0


async def test_discord_refusing_the_file_with_413_has_it_re_encoded_under_a_lower_limit(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    harness.publisher.fail_next("deliver_file", UploadTooLarge("413"))
    size = size_of(big_clip)
    render = await harness.add(upload_limit=25 * MB)  # what the interaction said; Discord takes less

    done = await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_fitted"]
    assert harness.publisher.deliveries[0].details["size"] <= size * 3 // 4
    assert done.upload_limit == size * 3 // 4
    assert len(harness.api.calls("GET", "/files/")) == 1  # the download was kept for the re-encode


async def test_a_re_encoded_file_refused_with_413_too_is_linked(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    harness.publisher.fail_next("deliver_fitted", UploadTooLarge("413"))
    render = await harness.add(upload_limit=150_000)

    done = await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_link"]
    assert done.state is RenderState.DELIVERED
    assert harness.kept_clips() == []


async def test_a_passing_failure_posts_the_kept_re_encode_later_without_encoding_again(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    harness.publisher.fail_next("deliver_fitted", PublishUnavailable("HTTP 503"))
    render = await harness.add(upload_limit=150_000)

    await harness.finish(render.id)

    assert [d.method for d in harness.publisher.deliveries] == ["deliver_fitted"]
    assert len(harness.publisher.calls("deliver_fitted", succeeded_only=False)) == 2
    assert harness.media.fits == 1
    assert len(harness.api.calls("GET", "/files/")) == 1


async def test_a_restart_keeps_a_pending_re_encode_for_the_render_still_to_deliver(
    make_harness: Callable[..., Harness], big_clip: Path
) -> None:
    harness = make_harness()
    harness.api.configure(video_file=str(big_clip))
    harness.publisher.fail_next("deliver_fitted", PublishUnavailable("HTTP 503"))
    render = await harness.add(upload_limit=150_000)
    for _ in range(10):  # until the first post attempt failed
        await harness.tracker.run_until_idle()
        if harness.publisher.calls("deliver_fitted", succeeded_only=False):
            break
        stored = await harness.repo.get(render.id)
        assert stored is not None and stored.next_poll_at is not None
        harness.now = stored.next_poll_at

    await harness.tracker.prepare()  # what a restart does first

    assert [p.name for p in harness.kept_clips()] == [f"{render.id}.fit.mp4", f"{render.id}.mp4"]
