"""Real MP4s for the media tests, made with PyAV, and what a viewer would see in a file: colours, sizes, length."""

from __future__ import annotations

import io
import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageStat

Colour = tuple[int, int, int]
RED: Colour = (220, 30, 30)
GREEN: Colour = (30, 200, 40)
BLUE: Colour = (30, 40, 220)
YELLOW: Colour = (230, 220, 40)
AUDIO_RATE = 48_000


def solid_clip(
    path: Path,
    colours: Sequence[Colour],
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 10,
    frames_each: int = 1,
    audio: bool = True,
    one_keyframe: bool = False,
) -> Path:
    """An H.264 (+ AAC tone) MP4 showing each colour for `frames_each` frames, in order."""
    # x264 would start a new group of pictures at every colour change; one_keyframe forbids that.
    params = "keyint=1000:min-keyint=1000:scenecut=0" if one_keyframe else "scenecut=0"
    frames = [Image.new("RGB", size, colour) for colour in colours for _ in range(frames_each)]
    return _write(path, frames, fps=fps, audio=audio, options={"preset": "ultrafast", "x264-params": params})


def noise_clip(
    path: Path,
    *,
    size: tuple[int, int],
    frames: int,
    fps: int = 10,
    audio: bool = False,
    centres: Sequence[Colour] = (),
) -> Path:
    """A clip of coarse random noise at near-lossless quality: many bytes a second, hard to squeeze.

    With `centres`, frame i's middle half is a solid colour (centres[i * len(centres) // frames]), so what a viewer
    sees can be checked after a re-encode.
    """
    width, height = size
    pictures = []
    for index in range(frames):
        noise = os.urandom(width // 4 * (height // 4) * 3)
        picture = Image.frombytes("RGB", (width // 4, height // 4), noise).resize(size)
        if centres:
            block = Image.new("RGB", (width // 2, height // 2), centres[index * len(centres) // frames])
            picture.paste(block, (width // 4, height // 4))
        pictures.append(picture)
    return _write(path, pictures, fps=fps, audio=audio, options={"preset": "ultrafast", "crf": "4"})


def _write(path: Path, pictures: Sequence[Image.Image], *, fps: int, audio: bool, options: dict[str, str]) -> Path:
    with av.open(str(path), "w", format="mp4") as output:
        video = output.add_stream("libx264", rate=fps, options=options)
        video.width, video.height = pictures[0].size
        video.pix_fmt = "yuv420p"
        sound = output.add_stream("aac", rate=AUDIO_RATE) if audio else None
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            _tone(output, sound, seconds=len(pictures) / fps)
    return path


def _tone(output: av.container.OutputContainer, stream: av.audio.stream.AudioStream, *, seconds: float) -> None:
    total = round(seconds * AUDIO_RATE)
    for start in range(0, total, 1024):
        count = min(1024, total - start)
        samples = array("f", (0.3 * math.sin(2 * math.pi * 440 * (start + i) / AUDIO_RATE) for i in range(count)))
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=count)
        for plane in frame.planes:
            plane.update(samples.tobytes().ljust(plane.buffer_size, b"\0"))
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


@dataclass(frozen=True)
class Seen:
    """A file as a player shows it: every frame decoded."""

    width: int
    height: int
    frames: int
    duration: float  # seconds, the container's
    video_seconds: float  # the video stream's own duration
    audio_seconds: float  # decoded samples / rate (0 without audio)
    colours: list[Colour]  # the mean colour of the middle of each frame, in order


def watch(path: Path) -> Seen:
    colours: list[Colour] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = (container.duration or 0) / av.time_base
        video_seconds = float((stream.duration or 0) * stream.time_base) if stream.time_base else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
        for frame in container.decode(video=0):
            colours.append(centre_colour(frame.to_image()))
    audio_samples = 0
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio_samples = sum(frame.samples for frame in container.decode(audio=0))
    return Seen(width, height, len(colours), duration, video_seconds, audio_samples / AUDIO_RATE, colours)


def centre_colour(image: Image.Image) -> Colour:
    """Mean colour of the middle half of the picture (letterboxing and codec edges left out)."""
    width, height = image.size
    middle = image.convert("RGB").crop((width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    red, green, blue = ImageStat.Stat(middle).mean
    return round(red), round(green), round(blue)


def png_colour(png: bytes) -> Colour:
    return centre_colour(Image.open(io.BytesIO(png)))


def close(a: Colour, b: Colour, tolerance: int = 12) -> bool:
    """Colours equal but for the codec's rounding (yuv420p and back moves each channel a few steps)."""
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


def keyframes(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size and packet.is_keyframe)


def files_in(folder: Path) -> list[Path]:
    """What a job left in its work dir (nothing at all if it never made the dir)."""
    return sorted(folder.iterdir()) if folder.exists() else []
