"""Stitch: a chain's clips joined in order into one file as long as all of them together."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.media import CannotFit, stitch
from tests.media.clips import BLUE, GREEN, RED, YELLOW, close, files_in, noise_clip, solid_clip, video_packets, watch


def test_clips_of_one_format_are_joined_without_re_encoding(tmp_path: Path, work_dir: Path) -> None:
    clips = [
        solid_clip(tmp_path / "1.mp4", [RED], frames_each=10),
        solid_clip(tmp_path / "2.mp4", [GREEN], frames_each=15),
        solid_clip(tmp_path / "3.mp4", [BLUE], frames_each=20),
    ]

    out = stitch(clips, work_dir=work_dir)

    seen = watch(out)
    assert seen.duration == pytest.approx(sum(watch(clip).duration for clip in clips), abs=0.1)
    assert seen.frames == 45
    # Every picture is the very bytes the model delivered: nothing was re-encoded or lost.
    assert video_packets(out) == [packet for clip in clips for packet in video_packets(clip)]
    assert [close(c, RED) for c in seen.colours].count(True) == 10
    assert all(close(c, BLUE) for c in seen.colours[-20:])
    assert seen.audio_seconds == pytest.approx(seen.duration, abs=0.1)


def test_clips_of_other_sizes_and_rates_are_re_encoded_to_the_first_clips_format(
    tmp_path: Path, work_dir: Path
) -> None:
    clips = [
        solid_clip(tmp_path / "1.mp4", [RED], frames_each=10, size=(64, 48), fps=10),  # 1 s, sound
        solid_clip(tmp_path / "2.mp4", [GREEN], frames_each=45, size=(96, 64), fps=30, audio=False),  # 1.5 s
        solid_clip(tmp_path / "3.mp4", [BLUE, YELLOW], frames_each=15, size=(48, 64), fps=15),  # 2 s, portrait
    ]
    total = sum(watch(clip).duration for clip in clips)

    out = stitch(clips, work_dir=work_dir)

    seen = watch(out)
    assert (seen.width, seen.height) == (64, 48)
    assert seen.video_seconds == pytest.approx(total, abs=2 / 10)  # within two frames of the output's 10 fps
    assert seen.duration == pytest.approx(total, abs=2 / 10)
    # Sound all the way through (silence where the middle clip has none), so picture and sound stay in step.
    assert seen.audio_seconds == pytest.approx(total, abs=0.1)
    segments = [(0.0, 1.0, RED), (1.0, 2.5, GREEN), (2.5, 3.5, BLUE), (3.5, 4.5, YELLOW)]
    for start, end, colour in segments:
        inside = seen.colours[round(start * 10) + 1 : round(end * 10) - 1]
        assert inside and all(close(c, colour) for c in inside), (colour, inside)


def test_clips_with_other_codec_setups_are_re_encoded_not_mixed(tmp_path: Path, work_dir: Path) -> None:
    # Same size and rate, but one clip is noise at another quality: its H.264 setup differs, so no packet copying.
    clips = [
        solid_clip(tmp_path / "1.mp4", [RED], frames_each=10, size=(320, 240), audio=False),
        noise_clip(tmp_path / "2.mp4", size=(320, 240), frames=10, centres=[GREEN]),
    ]

    out = stitch(clips, work_dir=work_dir)

    seen = watch(out)
    assert video_packets(out) != [packet for clip in clips for packet in video_packets(clip)]
    assert seen.frames == 20
    assert all(close(c, RED) for c in seen.colours[:10])
    assert all(close(c, GREEN) for c in seen.colours[11:])


def test_a_stitch_over_the_limit_is_brought_under_it(tmp_path: Path, work_dir: Path) -> None:
    clips = [noise_clip(tmp_path / f"{n}.mp4", size=(320, 240), frames=10) for n in range(3)]
    limit = 150_000
    assert sum(clip.stat().st_size for clip in clips) > 5 * limit

    out = stitch(clips, work_dir=work_dir, max_bytes=limit)

    assert out.stat().st_size <= limit
    assert watch(out).frames == 30
    assert files_in(work_dir) == [out]


def test_a_chain_too_long_to_fit_even_re_encoded_is_refused(tmp_path: Path, work_dir: Path) -> None:
    clips = [noise_clip(tmp_path / f"{n}.mp4", size=(320, 240), frames=10) for n in range(3)]

    with pytest.raises(CannotFit):
        stitch(clips, work_dir=work_dir, max_bytes=20_000)

    assert files_in(work_dir) == []


def test_a_re_encoded_chain_over_the_limit_is_refused(tmp_path: Path, work_dir: Path) -> None:
    clips = [
        noise_clip(tmp_path / "1.mp4", size=(320, 240), frames=10),
        noise_clip(tmp_path / "2.mp4", size=(160, 120), frames=10),
    ]

    with pytest.raises(CannotFit):
        stitch(clips, work_dir=work_dir, max_bytes=20_000)

    assert files_in(work_dir) == []


def test_nothing_to_stitch_is_a_programming_error(work_dir: Path) -> None:
    with pytest.raises(ValueError):
        stitch([], work_dir=work_dir)
