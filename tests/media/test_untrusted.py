"""Clips come from the network: anything that isn't a readable video is NotPlayable, never an FFmpeg error."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from bot.media import NotPlayable, fit, last_frame, stitch
from tests.media.clips import RED, files_in, solid_clip

Job = Callable[[Path, Path], object]
JOBS: dict[str, Job] = {
    "last_frame": lambda clip, work: last_frame(clip),
    "fit": lambda clip, work: fit(clip, 1000, work_dir=work),
    "stitch": lambda clip, work: stitch([clip, clip], work_dir=work),
}


def _garbage(folder: Path) -> Path:
    path = folder / "clip.mp4"
    path.write_bytes(b"this is not a video, whatever its name says\n" * 50)
    return path


def _empty(folder: Path) -> Path:
    path = folder / "clip.mp4"
    path.write_bytes(b"")
    return path


def _truncated(folder: Path) -> Path:
    whole = solid_clip(folder / "whole.mp4", [RED] * 20, size=(320, 240)).read_bytes()
    path = folder / "clip.mp4"
    path.write_bytes(whole[: len(whole) // 3])
    return path


def _picture(folder: Path) -> Path:
    path = folder / "clip.mp4"
    Image.new("RGB", (64, 48), RED).save(path, format="PNG")
    return path


def _header_then_garbage(folder: Path) -> Path:
    path = folder / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 40)
    return path


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize("make", [_garbage, _empty, _truncated, _picture, _header_then_garbage])
def test_a_file_that_is_not_a_video_is_not_playable(
    tmp_path: Path, work_dir: Path, job: str, make: Callable[[Path], Path]
) -> None:
    clip = make(tmp_path)

    with pytest.raises(NotPlayable):
        JOBS[job](clip, work_dir)

    assert files_in(work_dir) == []


@pytest.mark.parametrize("job", ["fit", "stitch"])
def test_a_clip_claiming_to_last_twenty_minutes_is_refused(tmp_path: Path, work_dir: Path, job: str) -> None:
    # Two frames twenty minutes apart: a few hundred bytes that a re-encode would fill with 1200 s of frames.
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for pts in (0, 1200):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), RED))
            frame.pts, frame.time_base = pts, Fraction(1, 1)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))

    with pytest.raises(NotPlayable):
        JOBS[job](clip, work_dir)
    assert files_in(work_dir) == []


def test_a_missing_file_is_not_playable(tmp_path: Path) -> None:
    with pytest.raises(NotPlayable):
        last_frame(tmp_path / "gone.mp4")


def test_a_playlist_naming_a_file_on_the_host_is_refused(tmp_path: Path, work_dir: Path) -> None:
    # FFmpeg left to probe would read this as HLS and decode whatever local file it names: another server's clip.
    secret = tmp_path / "someone-elses.ts"
    with av.open(str(secret), "w", format="mpegts") as output:
        stream = output.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), RED))
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5.0,\n{secret}\n#EXT-X-ENDLIST\n")

    for job in JOBS.values():
        with pytest.raises(NotPlayable):
            job(playlist, work_dir)
