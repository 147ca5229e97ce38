"""Video work: time and peak memory of bot.media's streamed jobs next to the simple way of doing the same.

Jobs: re-encode a ~95 MB clip to fit under 25 MB, stitch 3 clips of one format (packets copied) and of mixed sizes
(re-encoded), and grab the last frame. Each job runs alone in a fresh child process (`python -m bench.video child
...`), so its peak resident memory (VmHWM) is its own; the streamed jobs go through `VideoWorker`, as the bot will
call them, while a 10 ms ticker on the event loop records the longest stall. The simple way reads each file
whole into memory and decodes every frame into a list before encoding (video only, so it does a little less
work than the streamed jobs, which also carry the sound). The sources are made once into a temporary directory:
noise-ish 1080p frames at a high bitrate so the clip really weighs about 95 MB in 10 seconds.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from bot.media import VideoWorker
from bot.media.encode import QUALITY_CRF, X264_PRESET
from bot.media.fitting import CONTAINER_ALLOWANCE, SIZE_MARGIN, plan_fit
from bot.media.pool import WORKER_NICENESS

MB = 1_000_000  # Discord's upload limits are decimal megabytes
TICK = 0.010  # the event-loop ticker's period while a streamed job runs


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    seconds: float
    megabytes: float  # the size aimed at; the real one is read back from the file


# big: the clip to fit; part: three of these make the one-format stitch; odd: the mixed stitch's middle clip.
FULL = {
    "big": Source(1920, 1080, 10, 91),  # x264 lands ~5 % over the bitrate asked: about 95 MB
    "part": Source(1920, 1080, 10 / 3, 28.5),  # and ~12 % over on a clip this short
    "odd": Source(1280, 720, 10 / 3, 14),
}
QUICK = {
    "big": Source(1280, 720, 5, 24),
    "part": Source(1280, 720, 5 / 3, 7),
    "odd": Source(854, 480, 5 / 3, 4),
}
FIT_LIMIT = {False: 25 * MB, True: 8 * MB}


@dataclass(frozen=True)
class Measure:
    seconds: float
    peak_mib: float  # the child's VmHWM at the end of the job
    start_mib: float  # its VmHWM before the job (Python, PyAV and FFmpeg loaded)
    out_bytes: int
    out_size: str  # WxH of the output, or "" for a PNG
    out_frames: int  # frames a decoder reads from the output (1 for a PNG)
    stall_ms: float | None  # the event loop's longest stall while the job ran (streamed jobs only)
    error: str = ""


@dataclass(frozen=True)
class Job:
    label: str
    note: str
    streamed: Measure
    simple: Measure


@dataclass(frozen=True)
class VideoResult:
    big_bytes: int
    part_bytes: int
    limit: int
    jobs: list[Job]
    quick: bool


HEADERS = ("job", "bot.media: time · peak RSS", "simple: time · peak RSS", "loop stall", "bot.media's output")


async def run(*, quick: bool = False) -> VideoResult:
    sources = QUICK if quick else FULL
    limit = FIT_LIMIT[quick]
    with tempfile.TemporaryDirectory(prefix="bench-video-") as folder:
        root = Path(folder)
        print("  making the source clips…", file=sys.stderr, flush=True)
        big = await asyncio.to_thread(make_clip, root / "big.mp4", sources["big"], seed=1)
        # The same picture for half as long: a streamed job's peak should not move, the simple way's should halve.
        whole = sources["big"]
        halved = Source(whole.width, whole.height, whole.seconds / 2, whole.megabytes / 2)
        half = await asyncio.to_thread(make_clip, root / "half.mp4", halved, seed=2)
        parts = [await asyncio.to_thread(make_clip, root / f"part{n}.mp4", sources["part"], seed=n) for n in range(3)]
        odd = await asyncio.to_thread(make_clip, root / "odd.mp4", sources["odd"], seed=9)
        mixed = [parts[0], odd, parts[2]]
        big_mb = big.stat().st_size / MB
        half_mb = half.stat().st_size / MB
        part_mb = sum(p.stat().st_size for p in parts) / MB
        plan = [
            (f"fit {big_mb:.0f} MB → under {limit / MB:.0f} MB", "fit", [str(big), str(limit)], ""),
            (
                f"fit {half_mb:.0f} MB (half as long) → under {limit / 2 / MB:.1f} MB",
                "fit",
                [str(half), str(limit // 2)],
                "",
            ),
            (f"stitch 3 clips ({part_mb:.0f} MB), one format", "stitch", [str(p) for p in parts], "packets copied"),
            ("stitch 3 clips, mixed sizes", "stitch", [str(p) for p in mixed], "re-encoded at quality"),
            (f"last frame of the {big_mb:.0f} MB clip", "last_frame", [str(big)], ""),
        ]
        jobs = []
        for label, name, args, note in plan:
            print(f"  {label}…", file=sys.stderr, flush=True)
            work = root / "work"
            streamed = await _child("streamed", name, args, work)
            simple = await _child("simple", name, args, work)
            jobs.append(Job(label, note, streamed, simple))
        return VideoResult(big.stat().st_size, sum(p.stat().st_size for p in parts), limit, jobs, quick)


async def _child(way: str, name: str, args: list[str], work: Path) -> Measure:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.video",
        "child",
        way,
        name,
        str(work),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return Measure(math.nan, math.nan, math.nan, 0, "", 0, None, error=last[:120])
    return Measure(**json.loads(out))


def heading(result: VideoResult) -> str:
    return (
        f"video · bot.media next to the simple way, each job alone in a fresh child process · peak RSS is the "
        f"child's VmHWM (before the job: Python + PyAV loaded) · sources: {result.big_bytes / MB:.0f} MB and "
        f"3 × {result.part_bytes / 3 / MB:.0f} MB of noise-ish frames · loop stall: the longest gap of a "
        f"{TICK * 1000:.0f} ms ticker on the event loop while VideoWorker ran the job"
        f"{' · quick' if result.quick else ''}"
    )


def rows(result: VideoResult) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for job in result.jobs:
        made, simple = job.streamed, job.simple
        parts = [] if made.error else [f"{made.out_bytes / MB:.1f} MB"]
        if made.out_size:
            parts.append(f"{made.out_size}, {made.out_frames} frames")
        if not simple.error and simple.out_frames != made.out_frames:
            parts.append(f"simple: {simple.out_frames} frames")
        if job.note:
            parts.append(job.note)
        stall = "n/a" if made.stall_ms is None else f"{made.stall_ms:.0f} ms"
        out.append((job.label, _cell(made), _cell(simple), stall, ", ".join(parts)))
    return out


def _cell(m: Measure) -> str:
    if m.error:
        return f"FAILED: {m.error}"
    return f"{m.seconds:.1f} s · {m.peak_mib:.0f} MiB (+{m.peak_mib - m.start_mib:.0f})"


# ---- the source clips ---------------------------------------------------------------------------------------------


def make_clip(path: Path, source: Source, *, seed: int) -> Path:
    """`source.seconds` of coarse noise at 30 fps with a 440 Hz tone, encoded to weigh about `source.megabytes`."""
    fps = 30
    frames = round(source.seconds * fps)
    rng = _Noise(seed)
    with av.open(str(path), "w", format="mp4") as output:
        # A keyframe every 2 s, as clips for the web usually have: the last frame is decoded from the last one on.
        video = output.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(2 * fps)})
        video.width, video.height, video.pix_fmt = source.width, source.height, "yuv420p"
        audio_bitrate = 128_000
        video.bit_rate = int(source.megabytes * MB * 8 / source.seconds) - audio_bitrate
        sound = output.add_stream("aac", rate=48_000)
        sound.bit_rate = audio_bitrate
        for index in range(frames):
            # 4x4 blocks of noise: as hard to compress as a busy scene, unlike per-pixel noise no codec could touch.
            small = (source.width // 4, source.height // 4)
            picture = Image.frombytes("RGB", small, rng.take(small[0] * small[1] * 3)).resize(
                (source.width, source.height), Image.Resampling.NEAREST
            )
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        total = round(frames / fps * 48_000)
        tone = array("f", (0.2 * math.sin(2 * math.pi * 440 * i / 48_000) for i in range(1024))).tobytes()
        for start in range(0, total, 1024):
            count = min(1024, total - start)
            chunk = av.AudioFrame(format="fltp", layout="stereo", samples=count)
            for plane in chunk.planes:
                plane.update(tone[: count * 4].ljust(plane.buffer_size, b"\0"))
            chunk.sample_rate = 48_000
            chunk.pts = start
            output.mux(sound.encode(chunk))
        output.mux(sound.encode(None))
    return path


class _Noise:
    """Cheap repeatable bytes: one seeded random block read at a moving offset, so frames differ at little cost."""

    def __init__(self, seed: int) -> None:
        import random

        self._block = random.Random(seed).randbytes(8 * MB)
        self._at = 0

    def take(self, count: int) -> bytes:
        self._at = (self._at + 7919 * 3) % (len(self._block) - count)
        return self._block[self._at : self._at + count]


# ---- the jobs, as run in the child ---------------------------------------------------------------------------------


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _seen(path: Path) -> tuple[str, int]:
    """The output's picture size and how many frames decode: it plays, whole."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        frames = sum(1 for _ in container.decode(stream))
        return f"{stream.codec_context.width}x{stream.codec_context.height}", frames


async def _streamed(name: str, work: Path, args: list[str]) -> tuple[bytes | Path, float]:
    worker = VideoWorker(work_dir=work)
    stall = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            stall = max(stall, loop.time() - before - TICK)

    ticking = asyncio.create_task(ticker())
    try:
        jobs: dict[str, Callable[[], Awaitable[bytes | Path]]] = {
            "fit": lambda: worker.fit(Path(args[0]), int(args[1])),
            "stitch": lambda: worker.stitch([Path(a) for a in args]),
            "last_frame": lambda: worker.last_frame(Path(args[0])),
        }
        result = await jobs[name]()
    finally:
        done.set()
        await ticking
        await worker.aclose()
    return result, stall * 1000


def _simple(name: str, work: Path, args: list[str]) -> bytes | Path:
    if name == "last_frame":
        return simple_last_frame(Path(args[0]))
    if name == "fit":
        return simple_fit(Path(args[0]), int(args[1]), work / "simple-fit.mp4")
    return simple_stitch([Path(a) for a in args], work / "simple-stitch.mp4")


def _decode_all(path: Path) -> tuple[list[av.VideoFrame], Fraction, float]:
    """Every frame of the clip in a list, from the whole file read into memory: the simple way."""
    data = path.read_bytes()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        fps = Fraction(stream.average_rate or 30)
        frames = list(container.decode(stream))
        seconds = (container.duration or 0) / av.time_base
    return frames, fps, seconds


def _encode_all(frames: Sequence[av.VideoFrame], size: tuple[int, int], fps: Fraction, bitrate: int | None) -> bytes:
    buffer = io.BytesIO()
    options = {"preset": X264_PRESET}
    if bitrate is None:
        options["crf"] = QUALITY_CRF
    else:
        options |= {"maxrate": str(bitrate * 3 // 2), "bufsize": str(bitrate)}
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if bitrate is not None:
            stream.bit_rate = bitrate
        for index, frame in enumerate(frames):
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            scaled.pts = index
            scaled.time_base = 1 / fps
            output.mux(stream.encode(scaled))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def simple_fit(path: Path, max_bytes: int, out: Path) -> Path:
    frames, fps, seconds = _decode_all(path)
    width, height = frames[0].width, frames[0].height
    budget = max_bytes * SIZE_MARGIN - CONTAINER_ALLOWANCE
    for _ in range(3):
        plan = plan_fit(width, height, fps, seconds, budget_bytes=budget, audio=False, max_bytes=max_bytes)
        data = _encode_all(frames, (plan.width, plan.height), fps, plan.video_bitrate)
        if len(data) <= max_bytes:
            break
        budget *= max_bytes / len(data) * SIZE_MARGIN
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def simple_stitch(paths: Sequence[Path], out: Path) -> Path:
    frames: list[av.VideoFrame] = []
    fps = Fraction(30)
    size = (0, 0)
    for index, path in enumerate(paths):
        clip, clip_fps, _ = _decode_all(path)
        if index == 0:
            fps = clip_fps
            size = (clip[0].width, clip[0].height)
        frames += clip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_encode_all(frames, size, fps, None))
    return out


def simple_last_frame(path: Path) -> bytes:
    frames, _, _ = _decode_all(path)
    image = frames[-1].to_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def child(way: str, name: str, work: Path, args: list[str]) -> None:
    """Run one job in this process and print its figures as JSON on stdout."""
    start = _peak_mib()
    began = time.perf_counter()
    stall: float | None = None
    if way == "streamed":
        result, stall = asyncio.run(_streamed(name, work, args))
    else:
        # At the priority VideoWorker gives its threads, so both ways get the same share of a busy machine.
        os.nice(WORKER_NICENESS)
        result = _simple(name, work, args)
    seconds = time.perf_counter() - began
    peak = _peak_mib()
    if isinstance(result, Path):
        out_bytes, (out_size, out_frames) = result.stat().st_size, _seen(result)
        result.unlink()
    else:
        out_bytes, out_size, out_frames = len(result), "", 1
    figures = Measure(seconds, peak, start, out_bytes, out_size, out_frames, stall)
    print(json.dumps(figures.__dict__))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5:])
    else:
        from bench.stats import table

        quick = "--quick" in sys.argv
        found = asyncio.run(run(quick=quick))
        print(heading(found))
        print(table(rows(found), HEADERS))
