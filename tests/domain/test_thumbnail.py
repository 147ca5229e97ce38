"""The card's thumbnail of the first frame: a small PNG of the same picture, whatever was uploaded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.domain.thumbnail import THUMBNAIL_SIDE, thumbnail_png


def picture(width: int, height: int, fmt: str) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 2, height))  # left half blue
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_large_upload_becomes_a_small_png_of_the_same_shape_and_picture(fmt: str) -> None:
    data = picture(4000, 2000, fmt)

    small = Image.open(io.BytesIO(thumbnail_png(data)))

    assert small.format == "PNG"
    assert small.size == (THUMBNAIL_SIDE, THUMBNAIL_SIDE // 2)
    left, right = small.getpixel((10, 80)), small.getpixel((THUMBNAIL_SIDE - 10, 80))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[2] > 150 > left[0] and right[0] > 150 > right[2]


def test_a_portrait_keeps_its_shape_and_a_small_image_is_not_blown_up() -> None:
    portrait = Image.open(io.BytesIO(thumbnail_png(picture(300, 400, "PNG"))))
    small = Image.open(io.BytesIO(thumbnail_png(picture(200, 100, "PNG"))))

    assert portrait.size == (240, THUMBNAIL_SIDE)
    assert small.size == (200, 100)
