"""Clips over the upload limit: re-encoded under it, lower bitrate first, then lower resolution, never below 480p."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.media import CannotFit, fit
from tests.media.clips import BLUE, RED, close, files_in, noise_clip, solid_clip, watch


def test_a_clip_over_the_limit_comes_back_under_it_and_plays(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=20, audio=True)
    limit = 120_000
    assert source.stat().st_size > 5 * limit

    out = fit(source, limit, work_dir=work_dir)

    assert out.stat().st_size <= limit
    seen, original = watch(out), watch(source)
    assert (seen.width, seen.height) == (320, 240)
    assert seen.frames == original.frames
    assert seen.duration == pytest.approx(original.duration, abs=0.1)
    assert seen.audio_seconds == pytest.approx(original.audio_seconds, abs=0.1)
    assert files_in(work_dir) == [out]


def test_the_picture_survives_the_re_encode(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=10, centres=[RED, BLUE])

    seen = watch(fit(source, 100_000, work_dir=work_dir))

    assert [close(colour, RED) for colour in seen.colours] == [True] * 5 + [False] * 5
    assert [close(colour, BLUE) for colour in seen.colours] == [False] * 5 + [True] * 5


def test_a_clip_already_under_the_limit_is_returned_as_it_is(tmp_path: Path, work_dir: Path) -> None:
    source = solid_clip(tmp_path / "clip.mp4", [RED, BLUE])

    assert fit(source, source.stat().st_size, work_dir=work_dir) == source
    assert files_in(work_dir) == []


def test_a_480p_clip_that_fits_by_bitrate_keeps_its_resolution(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(854, 480), frames=20)
    limit = 300_000
    assert source.stat().st_size > 5 * limit

    out = fit(source, limit, work_dir=work_dir)

    assert out.stat().st_size <= limit
    seen = watch(out)
    assert (seen.width, seen.height) == (854, 480)
    assert seen.frames == 20


def test_a_720p_clip_too_big_at_720p_steps_down_but_not_below_480p(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(1280, 720), frames=10)
    limit = 60_000

    out = fit(source, limit, work_dir=work_dir)

    assert out.stat().st_size <= limit
    seen = watch(out)
    assert 480 <= seen.height < 720
    assert seen.width % 2 == 0 and seen.height % 2 == 0
    assert seen.width / seen.height == pytest.approx(1280 / 720, rel=0.01)
    assert seen.frames == 10


def test_a_480p_clip_that_cannot_fit_is_refused_rather_than_shrunk(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(854, 480), frames=20)

    with pytest.raises(CannotFit) as refused:
        fit(source, 20_000, work_dir=work_dir)

    assert refused.value.max_bytes == 20_000
    assert refused.value.needed_bytes > 20_000
    assert files_in(work_dir) == []


def test_a_small_clip_is_never_upscaled_and_cannot_fit_a_tiny_limit(tmp_path: Path, work_dir: Path) -> None:
    source = noise_clip(tmp_path / "clip.mp4", size=(320, 240), frames=20)

    with pytest.raises(CannotFit):
        fit(source, 10_000, work_dir=work_dir)
    assert files_in(work_dir) == []
