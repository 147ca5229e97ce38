"""Opening an untrusted clip safely and reading what the rest of the package needs to know about it.

Clips come from the network, so FFmpeg's format probing never sees them raw: the first bytes must say MP4/MOV or
Matroska/WebM, the demuxer is then named explicitly, and only the `file` protocol is allowed (a playlist or a
reference inside the file can't make FFmpeg fetch anything). Every FFmpeg error becomes `NotPlayable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from bot.media.errors import NotPlayable

# Box types an ISO base media file (MP4, MOV) may start with, at bytes 4..8.
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM

# The largest picture worth decoding: 4K DCI on the long side, and about 4096x2304 pixels in all.
MAX_SIDE = 4096
MAX_PIXELS = 4096 * 2304
MAX_SECONDS = 15 * 60  # a model's clip is seconds long; a file claiming more is refused, not decoded for hours
MAX_FPS = Fraction(60)  # faster clips are re-encoded at 60 fps
DEFAULT_FPS = Fraction(30)  # when the file states no usable rate


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    layout: str
    extradata: bytes


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    fps: Fraction  # the frame rate a re-encode uses (capped at MAX_FPS)
    duration: float  # seconds, the longest of the streams: what a player shows
    codec: str
    pix_fmt: str | None
    extradata: bytes  # codec setup (H.264 SPS/PPS): clips are only joined without re-encoding when these match
    audio: AudioInfo | None
    size: int  # bytes on disk

    def same_format(self, other: ClipInfo) -> bool:
        """Whether `other`'s packets can follow this clip's in one stream without re-encoding."""
        return (
            self.codec == other.codec
            and (self.width, self.height, self.pix_fmt) == (other.width, other.height, other.pix_fmt)
            and self.fps == other.fps
            and self.extradata == other.extradata
            and self.audio == other.audio
        )


def _sniffed_format(path: Path) -> str:
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError as error:
        raise NotPlayable(f"can't read the clip: {error.strerror or error}") from None
    if head[4:8] in _ISO_BOXES:
        return "mov"
    if head.startswith(_EBML_MAGIC):
        return "matroska"
    raise NotPlayable("not an MP4, MOV, MKV or WebM file")


@contextlib.contextmanager
def open_clip(path: Path) -> Iterator[InputContainer]:
    """Open `path` for reading after checking its container; FFmpeg errors inside the block become NotPlayable."""
    demuxer = _sniffed_format(path)
    try:
        container = av.open(str(path), "r", format=demuxer, options={"protocol_whitelist": "file"})
    except av.FFmpegError as error:
        raise NotPlayable(f"the clip can't be opened ({_reason(error)})") from None
    try:
        yield container
    except av.FFmpegError as error:
        raise NotPlayable(f"the clip can't be decoded ({_reason(error)})") from None
    finally:
        container.close()


def _reason(error: av.FFmpegError) -> str:
    # FFmpeg's own words without the file name it appends (a local path is nobody's business).
    return str(getattr(error, "strerror", None) or type(error).__name__)


def video_stream(container: InputContainer) -> VideoStream:
    if not container.streams.video:
        raise NotPlayable("the file has no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise NotPlayable("the video stream has no picture size")
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise NotPlayable(f"the picture is too large ({width}x{height}; at most {MAX_SIDE} px a side)")
    return stream


def audio_stream(container: InputContainer) -> AudioStream | None:
    return container.streams.audio[0] if container.streams.audio else None


def stream_fps(stream: Stream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
        return DEFAULT_FPS
    return min(Fraction(rate), MAX_FPS)


def _duration(container: InputContainer) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    # No duration in the header: the end of the last packet, from a demux pass (no decoding, so it is quick).
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end


def probe(path: Path) -> ClipInfo:
    """What fit and stitch need to plan their work; NotPlayable when it isn't a video we can read."""
    with open_clip(path) as container:
        video = video_stream(container)
        audio = audio_stream(container)
        context = video.codec_context
        info = ClipInfo(
            width=context.width,
            height=context.height,
            fps=stream_fps(video),
            duration=_duration(container),
            codec=context.name,
            pix_fmt=context.pix_fmt,
            extradata=bytes(context.extradata or b""),
            audio=None
            if audio is None
            else AudioInfo(
                codec=audio.codec_context.name,
                sample_rate=audio.codec_context.sample_rate,
                layout=audio.codec_context.layout.name,
                extradata=bytes(audio.codec_context.extradata or b""),
            ),
            size=path.stat().st_size,
        )
    if info.duration <= 0:
        raise NotPlayable("the clip has no duration")
    if info.duration > MAX_SECONDS:
        raise NotPlayable(f"the clip says it lasts {info.duration:.0f} s; at most {MAX_SECONDS} s are taken")
    return info
