"""Joining a chain of clips, in order, into one MP4."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
from av.stream import Stream

from bot.media.deadline import Deadline
from bot.media.encode import Segment, Target, encode
from bot.media.files import file_size, scratch_output
from bot.media.fitting import encode_within
from bot.media.probe import ClipInfo, audio_stream, open_clip, probe, video_stream

AUDIO_BITRATE = 128_000  # AAC stereo when no size limit applies


def stitch(
    paths: Sequence[Path], *, work_dir: Path, max_bytes: int | None = None, deadline: Deadline | None = None
) -> Path:
    """One MP4 in `work_dir` holding `paths` in order; its duration is the sum of theirs.

    Clips of one format (codec and its setup, size, frame rate, audio layout) are joined packet by packet, with no
    re-encoding and no loss; others are re-encoded to H.264/AAC at the first clip's size and frame rate (other
    shapes letterboxed). With `max_bytes`, a result over it is re-encoded to fit, or CannotFit. The caller owns
    (and deletes) the file returned.
    """
    if not paths:
        raise ValueError("stitch needs at least one clip")
    deadline = deadline or Deadline()
    infos = [probe(path) for path in paths]
    first = infos[0]
    if all(first.same_format(info) for info in infos[1:]):
        with scratch_output(work_dir, "stitch-") as joined:
            _remux(paths, infos, joined, deadline)
        if max_bytes is None or file_size(joined) <= max_bytes:
            return joined
        total = sum(info.duration for info in infos)
        try:
            # Re-encoded from the joined file (already planned: no second probe, which caps a single clip's length).
            return encode_within(
                [Segment(joined, total)],
                width=first.width,
                height=first.height,
                fps=first.fps,
                audio=first.audio is not None,
                max_bytes=max_bytes,
                work_dir=work_dir,
                deadline=deadline,
            )
        finally:
            joined.unlink(missing_ok=True)
    segments = [Segment(path, info.duration) for path, info in zip(paths, infos, strict=True)]
    audio = any(info.audio is not None for info in infos)
    if max_bytes is not None:
        return encode_within(
            segments,
            width=first.width,
            height=first.height,
            fps=first.fps,
            audio=audio,
            max_bytes=max_bytes,
            work_dir=work_dir,
            deadline=deadline,
        )
    target = Target(_even(first.width), _even(first.height), first.fps, None, audio, AUDIO_BITRATE)
    with scratch_output(work_dir, "stitch-") as out:
        encode(segments, target, out, deadline)
    return out


def _remux(paths: Sequence[Path], infos: Sequence[ClipInfo], out: Path, deadline: Deadline) -> None:
    """Copy every clip's packets into one file, each clip's timestamps moved to start where the previous ended."""
    with av.open(str(out), "w", format="mp4", container_options={"movflags": "+faststart"}) as output:
        offset = 0.0
        targets: dict[str, Stream] = {}
        for index, (path, info) in enumerate(zip(paths, infos, strict=True)):
            with open_clip(path) as container:
                video = video_stream(container)
                audio = audio_stream(container)
                if not targets:
                    targets["video"] = output.add_stream_from_template(video)
                    if audio is not None:
                        targets["audio"] = output.add_stream_from_template(audio)
                sources = [video] if audio is None else [video, audio]
                for packet in container.demux(*sources):
                    deadline.check()
                    if packet.size == 0 or packet.time_base is None:
                        continue  # the demuxer's end-of-stream marker
                    # Encoder priming (AAC's first frame) only belongs at the start of the file.
                    if index and packet.is_discard:
                        continue
                    shift = round(offset / packet.time_base)
                    if packet.pts is not None:
                        packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
                    packet.stream = targets[packet.stream.type]
                    output.mux(packet)
            offset += info.duration


def _even(value: int) -> int:
    return max(2, value // 2 * 2)
