"""Bringing a clip under an upload limit: lower bitrate first, then lower resolution, never below 480p."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from bot.media.deadline import Deadline
from bot.media.encode import Segment, Target, encode
from bot.media.errors import CannotFit
from bot.media.files import file_size, scratch_output
from bot.media.probe import probe

MIN_SHORT_SIDE = 480  # the product's floor: a smaller picture is not worth posting, the link is better
STEP_SHORT_SIDES = (1080, 720, 540, MIN_SHORT_SIDE)  # the resolutions tried, largest first, below the source's
# H.264 below about 0.04 bits a pixel a frame turns to smears; frame rates above 30 add little the eye needs.
FLOOR_BITS_PER_PIXEL = 0.04
FLOOR_FPS_CAP = 30
MIN_VIDEO_BITRATE = 100_000  # tiny pictures still need this much to be watchable
AUDIO_BITRATE = 96_000  # AAC stereo, when the clip has sound and a size limit applies
SIZE_MARGIN = 0.93  # single-pass rate control lands within a few per cent; muxing adds a little more
CONTAINER_ALLOWANCE = 32 * 1024  # MP4 index and headers
ATTEMPTS = 3  # encodes tried before giving up: each retry aims lower by as much as the last one overshot


@dataclass(frozen=True)
class Plan:
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int


def fit(path: Path, max_bytes: int, *, work_dir: Path, deadline: Deadline | None = None) -> Path:
    """A copy of the clip under `max_bytes` (H.264/AAC MP4 in `work_dir`), or `path` itself if it already fits.

    Raises CannotFit when even 480p at the bitrate floor is too big (before encoding anything when the arithmetic
    says so), NotPlayable when the clip doesn't decode, VideoTimeout past the deadline. The caller owns (and
    deletes) the file returned unless it is `path`.
    """
    deadline = deadline or Deadline()
    info = probe(path)
    if info.size <= max_bytes:
        return path
    segment = Segment(path, info.duration)
    return encode_within(
        [segment],
        width=info.width,
        height=info.height,
        fps=info.fps,
        audio=info.audio is not None,
        max_bytes=max_bytes,
        work_dir=work_dir,
        deadline=deadline,
    )


def encode_within(
    segments: Sequence[Segment],
    *,
    width: int,
    height: int,
    fps: Fraction,
    audio: bool,
    max_bytes: int,
    work_dir: Path,
    deadline: Deadline,
) -> Path:
    """Encode `segments` at the largest size the budget allows at or below `width`x`height`, under `max_bytes`."""
    duration = sum(s.duration for s in segments)
    budget = max_bytes * SIZE_MARGIN - CONTAINER_ALLOWANCE
    for _ in range(ATTEMPTS):
        plan = plan_fit(width, height, fps, duration, budget_bytes=budget, audio=audio, max_bytes=max_bytes)
        target = Target(plan.width, plan.height, fps, plan.video_bitrate, audio, plan.audio_bitrate)
        with scratch_output(work_dir, "fit-") as out:
            encode(segments, target, out, deadline)
            size = file_size(out)
            if size <= max_bytes:
                return out
            out.unlink()
        # Overshot: aim lower by the overshoot's ratio (and a little more), which may also mean a smaller picture.
        budget *= max_bytes / size * SIZE_MARGIN
    raise CannotFit(
        f"after {ATTEMPTS} encodes the clip is still over {max_bytes} bytes",
        max_bytes=max_bytes,
        needed_bytes=size,
    )


def plan_fit(
    width: int, height: int, fps: Fraction, duration: float, *, budget_bytes: float, audio: bool, max_bytes: int
) -> Plan:
    """The largest picture (source size, then each step down to 480p) whose share of the budget clears the floor."""
    audio_bitrate = AUDIO_BITRATE if audio else 0
    video_bitrate = int(budget_bytes * 8 / duration) - audio_bitrate
    sizes = candidate_sizes(width, height)
    for candidate in sizes:
        if video_bitrate >= floor_bitrate(*candidate, fps):
            return Plan(*candidate, video_bitrate=video_bitrate, audio_bitrate=audio_bitrate)
    smallest = sizes[-1]
    needed = int((floor_bitrate(*smallest, fps) + audio_bitrate) * duration / 8 / SIZE_MARGIN + CONTAINER_ALLOWANCE)
    raise CannotFit(
        f"{duration:.1f} s at {smallest[0]}x{smallest[1]} needs about {needed} bytes, over the {max_bytes} limit",
        max_bytes=max_bytes,
        needed_bytes=needed,
    )


def floor_bitrate(width: int, height: int, fps: Fraction) -> int:
    return max(MIN_VIDEO_BITRATE, int(FLOOR_BITS_PER_PIXEL * width * height * min(float(fps), FLOOR_FPS_CAP)))


def candidate_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """The source's size (made even), then the same shape at each step below it, never under 480 on the short side.

    A source already under 480p is never scaled (up or down): its only candidate is itself.
    """
    sizes = [(_even(width), _even(height))]
    short = min(width, height)
    for step in STEP_SHORT_SIDES:
        if step < short:
            scale = step / short
            sizes.append((_even(width * scale), _even(height * scale)))
    return sizes


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
