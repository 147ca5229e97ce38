"""The last frame of a clip as a PNG: the first frame of the shot that continues it."""

from __future__ import annotations

import io
from pathlib import Path

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from bot.media.deadline import Deadline
from bot.media.errors import NotPlayable
from bot.media.probe import open_clip, video_stream


def last_frame(path: Path, *, deadline: Deadline | None = None) -> bytes:
    """The clip's last decoded frame as PNG bytes (RGB, the coded picture size).

    Seeks to the last keyframe at or before the end and decodes from there, so only the final group of pictures
    is decoded however long the clip; if the seek finds nothing (no index, a broken one), decodes from the start.
    Only the newest frame is kept while decoding.
    """
    deadline = deadline or Deadline()
    with open_clip(path) as container:
        stream = video_stream(container)
        stream.codec_context.thread_type = "AUTO"
        frame = _last_after_seek(container, stream, deadline)
        if frame is None:
            container.seek(0)
            frame = _last_decoded(container, stream, deadline)
        if frame is None:
            raise NotPlayable("the clip has no frame that decodes")
        image = frame.to_image()  # type: ignore[no-untyped-call]
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _last_after_seek(container: InputContainer, stream: VideoStream, deadline: Deadline) -> av.VideoFrame | None:
    end = _end_in_stream_units(container, stream)
    if end is None:
        return None
    try:
        # backward=True: the keyframe at or before `end`, however far back the clip's last keyframe is.
        container.seek(end, backward=True, any_frame=False, stream=stream)
    except av.FFmpegError:
        return None
    return _last_decoded(container, stream, deadline)


def _end_in_stream_units(container: InputContainer, stream: VideoStream) -> int | None:
    if stream.duration is not None and stream.time_base is not None:
        return (stream.start_time or 0) + stream.duration
    if container.duration is not None and stream.time_base is not None:
        return int(container.duration / av.time_base / stream.time_base)
    return None


def _last_decoded(container: InputContainer, stream: VideoStream, deadline: Deadline) -> av.VideoFrame | None:
    last = None
    for packet in container.demux(stream):
        deadline.check()
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame):
                last = frame
    return last
