"""VideoWorker: the jobs off the event loop, bounded, each under a time limit that leaves no partial file."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.media import Deadline, NotPlayable, VideoTimeout, VideoWorker, fit, stitch
from bot.settings import SettingsError, load_settings
from tests.media.clips import BLUE, GREEN, RED, close, files_in, noise_clip, png_colour, solid_clip, watch

REQUIRED = {"DISCORD_TOKEN": "token-for-test", "MODELSTREAM_API_KEY": "sk-key-for-test"}


def ticking(step: float = 1.0) -> Callable[[], float]:
    """A clock that moves `step` seconds every time it is read: a limit of N s trips at about the N-th check."""
    counter = itertools.count()
    return lambda: next(counter) * step


async def test_the_worker_gives_the_last_frame_fit_and_stitch(tmp_path: Path, work_dir: Path) -> None:
    worker = VideoWorker(work_dir=work_dir)
    red = solid_clip(tmp_path / "red.mp4", [GREEN, RED], frames_each=5)
    blue = solid_clip(tmp_path / "blue.mp4", [BLUE], frames_each=5)
    heavy = noise_clip(tmp_path / "heavy.mp4", size=(320, 240), frames=10)
    try:
        png = await worker.last_frame(red)
        joined = await worker.stitch([red, blue])
        fitted = await worker.fit(heavy, 80_000)
    finally:
        await worker.aclose()

    assert close(png_colour(png), RED)
    assert watch(joined).frames == 15
    assert fitted.parent == work_dir and fitted.stat().st_size <= 80_000


@pytest.mark.parametrize("workers", [1, 2])
async def test_jobs_beyond_the_pool_size_wait_their_turn(tmp_path: Path, work_dir: Path, workers: int) -> None:
    clip = solid_clip(tmp_path / "clip.mp4", [RED], frames_each=5)
    threads: set[str] = set()

    def clock() -> float:
        threads.add(threading.current_thread().name)  # read at every step of every job, from the job's thread
        return 0.0

    worker = VideoWorker(work_dir=work_dir, workers=workers, clock=clock)
    try:
        pngs = await asyncio.gather(*(worker.last_frame(clip) for _ in range(5)))
    finally:
        await worker.aclose()

    assert [close(png_colour(png), RED) for png in pngs] == [True] * 5
    # Five jobs handed in at once would each get a thread of their own from an unbounded pool.
    assert len(threads) == workers
    assert threading.current_thread().name not in threads  # never on the event loop's thread


async def test_a_job_past_its_time_limit_stops_and_leaves_no_file(tmp_path: Path, work_dir: Path) -> None:
    clip = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=20)
    worker = VideoWorker(work_dir=work_dir, time_limit=10, clock=ticking())
    try:
        with pytest.raises(VideoTimeout) as stopped:
            await worker.fit(clip, 100_000)
    finally:
        await worker.aclose()

    assert stopped.value.seconds == 10
    assert files_in(work_dir) == []


@pytest.mark.parametrize("limit", [3, 30, 60])
def test_a_stitch_stopped_at_any_point_leaves_no_file(tmp_path: Path, work_dir: Path, limit: int) -> None:
    clips = [solid_clip(tmp_path / f"{n}.mp4", [RED, BLUE], frames_each=10, size=(64 + 32 * n, 48)) for n in range(3)]

    with pytest.raises(VideoTimeout):
        stitch(clips, work_dir=work_dir, deadline=Deadline(limit, clock=ticking()))

    assert files_in(work_dir) == []


def test_a_fit_given_time_enough_is_not_stopped(tmp_path: Path, work_dir: Path) -> None:
    clip = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=20)

    out = fit(clip, 100_000, work_dir=work_dir, deadline=Deadline(10_000, clock=ticking()))

    assert out.stat().st_size <= 100_000


async def test_an_abandoned_job_stops_and_leaves_no_file(tmp_path: Path, work_dir: Path) -> None:
    clip = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=20)
    started = threading.Event()
    release = threading.Event()

    def clock() -> float:
        started.set()
        release.wait()
        return 0.0

    worker = VideoWorker(work_dir=work_dir, clock=clock)
    job = asyncio.create_task(worker.fit(clip, 100_000))
    await asyncio.to_thread(started.wait)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    release.set()
    await worker.aclose()

    assert files_in(work_dir) == []


async def test_garbage_through_the_worker_is_not_playable(tmp_path: Path, work_dir: Path) -> None:
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    worker = VideoWorker(work_dir=work_dir)
    try:
        with pytest.raises(NotPlayable):
            await worker.last_frame(garbage)
    finally:
        await worker.aclose()


def test_the_worker_settings_default_to_one_job_and_five_minutes(tmp_path: Path) -> None:
    settings = load_settings(REQUIRED | {"DATA_DIR": str(tmp_path)}, env_file=None)

    worker = VideoWorker.from_settings(settings)

    assert (settings.video_workers, settings.video_time_limit) == (1, 300.0)
    assert worker.time_limit == 300.0
    assert worker.work_dir == tmp_path / "video"


@pytest.mark.parametrize(("name", "value"), [("VIDEO_WORKERS", "0"), ("VIDEO_TIME_LIMIT_SECONDS", "-1")])
def test_a_bad_worker_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(REQUIRED | {name: value}, env_file=None)

    assert str(refused.value).startswith(f"{name}=")
