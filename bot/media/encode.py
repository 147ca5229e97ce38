"""Re-encoding one or more clips, in order, into one H.264/AAC MP4, streamed frame by frame.

Each source is decoded packet by packet; a frame is scaled (and letterboxed when its shape differs), then placed
on the output's constant frame rate grid, so clips of other rates join without drift: the output holds each
source for exactly its duration. Audio is resampled to 48 kHz stereo and padded with silence wherever a source
has none, so sound stays in step with picture across joins. Nothing but the current frame is held in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

from bot.media.deadline import Deadline
from bot.media.errors import MediaError, NotPlayable
from bot.media.probe import audio_stream, open_clip, video_stream

AUDIO_RATE = 48_000
AUDIO_LAYOUT = "stereo"
AAC_FRAME = 1024  # samples in one AAC frame; the encoder takes no other size but at the very end
X264_PRESET = "veryfast"  # about 3x faster than "medium" for some 10 % more bits at the same quality
QUALITY_CRF = "20"  # when no size limit applies: visually close to the source
_H264_ENCODERS = ("libx264", "libopenh264")


@dataclass(frozen=True)
class Target:
    width: int
    height: int
    fps: Fraction
    video_bitrate: int | None  # bits/s; None: constant quality (QUALITY_CRF)
    audio: bool
    audio_bitrate: int


@dataclass(frozen=True)
class Segment:
    path: Path
    duration: float  # seconds this source occupies in the output


def h264_encoder() -> str:
    """The H.264 encoder the installed FFmpeg libraries have (PyPI's `av` wheels ship libx264)."""
    for name in _H264_ENCODERS:
        if name in av.codecs_available:
            return name
    raise MediaError("this FFmpeg build has no H.264 encoder")


def encode(segments: Sequence[Segment], target: Target, out: Path, deadline: Deadline) -> None:
    """Write `segments` one after another into `out` as `target` says; NotPlayable if a source doesn't decode."""
    with av.open(str(out), "w", format="mp4", container_options={"movflags": "+faststart"}) as output:
        video = _VideoTrack(output, target)
        audio = _AudioTrack(output, target.audio_bitrate) if target.audio else None
        start = 0.0
        for segment in segments:
            end = start + segment.duration
            _add_segment(segment.path, start, end, video, audio, deadline)
            start = end
        video.close()
        if audio is not None:
            audio.close()


def _add_segment(
    path: Path, start: float, end: float, video: _VideoTrack, audio: _AudioTrack | None, deadline: Deadline
) -> None:
    with open_clip(path) as container:
        source_video = video_stream(container)
        source_video.codec_context.thread_type = "AUTO"
        source_audio = audio_stream(container) if audio is not None else None
        streams = [source_video] if source_audio is None else [source_video, source_audio]
        origin = (container.start_time or 0) / av.time_base
        resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        held: av.VideoFrame | None = None
        for packet in container.demux(*streams):
            deadline.check()
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    at = video.time + video.step if frame.time is None else start + frame.time - origin
                    if held is not None:
                        video.hold(held, until=at, deadline=deadline)
                    held = video.fitted(frame)
                    if audio is not None and source_audio is None:
                        audio.pad_to(video.time, slack=AAC_FRAME)
                elif isinstance(frame, av.AudioFrame) and audio is not None:
                    if frame.time is not None:
                        audio.pad_to(start + frame.time - origin, slack=AAC_FRAME)
                    for converted in resampler.resample(frame):
                        audio.write(converted)
        if held is None:
            raise NotPlayable("the clip has no frame that decodes")
        video.hold(held, until=end, deadline=deadline)
        if audio is not None:
            if source_audio is not None:
                for converted in resampler.resample(None):
                    audio.write(converted)
            audio.pad_to(end)


class _VideoTrack:
    """The output's video: frames go on a constant-rate grid of slots; a frame fills slots until the next one."""

    def __init__(self, output: OutputContainer, target: Target) -> None:
        encoder = h264_encoder()
        options = {"preset": X264_PRESET} if encoder == "libx264" else {}
        if target.video_bitrate is None:
            options["crf"] = QUALITY_CRF
        elif encoder == "libx264":
            # A one-second rate-control buffer keeps single-pass ABR within a few per cent of its target even on
            # short, busy clips (without one x264 overshot 7 %, with a two-second one 8-16 %, in bench/video.py's).
            rate = target.video_bitrate
            options |= {"maxrate": str(rate * 3 // 2), "bufsize": str(rate)}
        self._output = output
        stream = output.add_stream(encoder, rate=target.fps, options=options)
        assert isinstance(stream, VideoStream)
        self._stream = stream
        self._stream.width = target.width
        self._stream.height = target.height
        self._stream.pix_fmt = "yuv420p"
        if target.video_bitrate is not None:
            self._stream.bit_rate = target.video_bitrate
        self._time_base = 1 / target.fps
        self._fps = target.fps
        self._slot = 0
        self._scaler = _Scaler(target.width, target.height)

    @property
    def time(self) -> float:
        """Seconds of video written so far."""
        return float(self._slot / self._fps)

    @property
    def step(self) -> float:
        return float(1 / self._fps)

    def fitted(self, frame: av.VideoFrame) -> av.VideoFrame:
        return self._scaler(frame)

    def hold(self, frame: av.VideoFrame, *, until: float, deadline: Deadline) -> None:
        """Show `frame` in every slot that starts before `until` (a quarter slot of slack against rounding)."""
        while self._slot / self._fps < until - self.step / 4:
            deadline.check()
            frame.pts = self._slot
            frame.time_base = self._time_base
            self._output.mux(self._stream.encode(frame))
            self._slot += 1

    def close(self) -> None:
        self._output.mux(self._stream.encode(None))


class _Scaler:
    """Any decoded picture to the target size in yuv420p: scaled to fit, centred on black if its shape differs."""

    def __init__(self, width: int, height: int) -> None:
        self._size = (width, height)
        self._pad: tuple[tuple[int, int], av.filter.Graph] | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        if (frame.width, frame.height) == self._size and frame.format.name == "yuv420p":
            return frame
        inner = _inner_size((frame.width, frame.height), self._size)
        scaled = frame.reformat(width=inner[0], height=inner[1], format="yuv420p")
        if inner == self._size:
            return scaled
        graph = self._pad_graph(inner)
        scaled.pts = 0
        graph.push(scaled)
        padded = graph.pull()
        assert isinstance(padded, av.VideoFrame)
        return padded

    def _pad_graph(self, inner: tuple[int, int]) -> av.filter.Graph:
        if self._pad is None or self._pad[0] != inner:
            width, height = self._size
            graph = av.filter.Graph()
            source = graph.add_buffer(
                width=inner[0], height=inner[1], format=av.VideoFormat("yuv420p"), time_base=Fraction(1, 1)
            )
            pad = graph.add("pad", f"{width}:{height}:{(width - inner[0]) // 2}:{(height - inner[1]) // 2}:black")
            graph.link_nodes(source, pad, graph.add("buffersink")).configure()
            self._pad = (inner, graph)
        return self._pad[1]


def _inner_size(source: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest even size of `source`'s shape inside `box`; `box` itself when within 2 px of it."""
    scale = min(box[0] / source[0], box[1] / source[1])
    width = min(box[0], max(2, round(source[0] * scale / 2) * 2))
    height = min(box[1], max(2, round(source[1] * scale / 2) * 2))
    if box[0] - width <= 2 and box[1] - height <= 2:
        return box
    return width, height


class _AudioTrack:
    """The output's AAC audio: a FIFO cuts whatever arrives into the 1024-sample frames the encoder wants."""

    def __init__(self, output: OutputContainer, bitrate: int) -> None:
        self._output = output
        stream = output.add_stream("aac", rate=AUDIO_RATE)
        assert isinstance(stream, AudioStream)
        self._stream = stream
        self._stream.layout = AUDIO_LAYOUT
        self._stream.bit_rate = bitrate
        self._fifo = av.AudioFifo()
        self._written = 0  # samples handed to the FIFO
        self._encoded = 0  # samples handed to the encoder (the next frame's pts)

    def write(self, frame: av.AudioFrame) -> None:
        frame.pts = None  # the FIFO checks continuity of pts; ours are the sample counts
        self._fifo.write(frame)
        self._written += frame.samples
        self._drain(AAC_FRAME)

    def pad_to(self, seconds: float, *, slack: int = 0) -> None:
        """Silence up to `seconds`, if the track is more than `slack` samples short of it."""
        target = round(seconds * AUDIO_RATE)
        if self._written >= target - slack:
            return
        while self._written < target:
            self.write(_silence(min(AAC_FRAME, target - self._written)))

    def _drain(self, size: int) -> None:
        while self._fifo.samples >= size:
            frame = self._fifo.read(size)
            if frame is None:
                return
            frame.pts = self._encoded
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._encoded += frame.samples
            self._output.mux(self._stream.encode(frame))

    def close(self) -> None:
        if self._fifo.samples:
            self._drain(self._fifo.samples)
        self._output.mux(self._stream.encode(None))


def _silence(samples: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="fltp", layout=AUDIO_LAYOUT, samples=samples)
    frame.sample_rate = AUDIO_RATE
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    return frame
