"""Real video files for the download tests, made with PyAV: tiny, but every byte a decoder would read."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

# container format -> (codec, file suffix)
FORMATS = {"mp4": ("mpeg4", ".mp4"), "mov": ("mpeg4", ".mov"), "webm": ("libvpx", ".webm")}


def tiny_video(folder: Path, container: str = "mp4", frames: int = 6) -> Path:
    """A 32x32 clip of `frames` frames at 10 fps in `container` (mp4, mov or webm)."""
    codec, suffix = FORMATS[container]
    path = folder / f"tiny-{container}{suffix}"
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=10)
        stream.width = 32
        stream.height = 32
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", (32, 32), (index * 40 % 256, 80, 160)))
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def decoded_frames(path: Path) -> int:
    """How many frames a decoder reads from `path`."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def tiny_png(folder: Path) -> Path:
    path = folder / "picture.png"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(path)
    return path
