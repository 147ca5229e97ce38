"""The last frame of a delivered clip, as the PNG that starts the next shot of a chain."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.media import last_frame
from tests.media.clips import BLUE, GREEN, RED, YELLOW, close, keyframes, png_colour, solid_clip, watch


def test_the_png_shows_the_clips_last_frame(tmp_path: Path) -> None:
    clip = solid_clip(tmp_path / "clip.mp4", [RED, GREEN, BLUE], frames_each=4)

    png = last_frame(clip)

    assert close(png_colour(png), watch(clip).colours[-1])
    assert close(png_colour(png), BLUE)


def test_the_png_has_the_clips_picture_size(tmp_path: Path) -> None:
    clip = solid_clip(tmp_path / "clip.mp4", [RED, GREEN], size=(320, 240), audio=False)

    image = Image.open(io.BytesIO(last_frame(clip)))

    assert image.format == "PNG"
    assert image.size == (320, 240)


def test_a_clip_whose_only_keyframe_is_the_first_still_gives_its_last_frame(tmp_path: Path) -> None:
    clip = solid_clip(tmp_path / "clip.mp4", [RED, GREEN, BLUE, YELLOW], frames_each=8, one_keyframe=True)
    assert keyframes(clip) == 1

    assert close(png_colour(last_frame(clip)), YELLOW)


def test_a_clip_without_sound_gives_its_last_frame(tmp_path: Path) -> None:
    clip = solid_clip(tmp_path / "clip.mp4", [GREEN, RED], audio=False)

    assert close(png_colour(last_frame(clip)), RED)
