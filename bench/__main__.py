"""`python -m bench [--quick]`: run the benchmarks and print one compact table of figures.

1. slash-to-defer latency (median, p99) with many renders in flight, measured with real slash commands;
2. status calls per render, and the status call rate against MAX_STATUS_CALLS_PER_SECOND;
3. the bot's peak memory while it delivers a large clip;
4. scale: delivery lag and the status-call cap with 150 and 300 renders in flight, today's tracker next to this
   one (in-process, on scaled time; printed as a table of its own);
5. burst: 20 renders in one channel done at once under Discord's edit limit, today's card edits next to clips
   first (in-process, real time, real discord.py; printed as a table of its own);
6. expectation: status calls per render and delivery lag with 300 renders in flight, a fixed interval next to
   polling by expectation (in-process, on scaled time; printed as a table of its own);
7. video: re-encoding a ~95 MB clip under 25 MB, stitching 3 clips and a last-frame grab, bot.media next to the
   simple in-memory way (time and each job's peak RSS in a child process; printed as a table of its own);
8. fairness: the order in which one member's four takes and six members' single requests start against
   MAX_RENDERS_AT_API=2, next to first come first served (in-process, virtual clock; a table of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable

from bench import burst, expectation, fairness, latency, memory, polling, scale, video
from bench.stats import ms, percentile, table

Row = tuple[str, str, str]
SCENARIOS = ("latency", "polling", "memory", "scale", "burst", "expectation", "video", "fairness")


def _spread(values: list[float]) -> str:
    return f"median {ms(percentile(values, 50))} · p99 {ms(percentile(values, 99))}"


def latency_rows(r: latency.LatencyResult) -> list[Row]:
    fill_rate = (r.in_flight / r.fill_seconds) if r.fill_seconds else 0.0
    return [
        ("defer, nothing in flight", _spread(r.idle), f"n={len(r.idle)}, paced probes"),
        ("defer, while filling", _spread(r.fill), f"n={len(r.fill)}, {latency.FILL_WINDOW} commands outstanding"),
        (
            f"defer, {r.in_flight} in flight",
            _spread(r.loaded),
            f"n={len(r.loaded)}; tracker polling at {r.status_rate:.1f} calls/s "
            f"(cap {latency.STATUS_CAP:g}/s, poll every {latency.POLL_INTERVAL:g} s)",
        ),
        (
            f"fill to {r.in_flight} in flight",
            f"{r.fill_seconds:.0f} s ({fill_rate:.1f}/s)",
            f"real slash commands; refused {r.refused}, unanswered {r.unanswered}",
        ),
        (
            f"bot memory, {r.in_flight} in flight",
            f"RSS {r.memory.rss_mib:.0f} MiB",
            f"peak {r.memory.peak_mib:.0f} MiB",
        ),
    ]


def polling_rows(r: polling.PollingResult) -> list[Row]:
    counted = f"{r.bot_counted:.0f}" if r.bot_counted is not None else "n/a"
    return [
        (
            "status calls per render",
            f"{r.calls_per_render:.2f} mean · {r.max_calls_per_render} max",
            f"n={r.renders} renders (delivered {r.delivered}); least possible {r.ideal_per_render}",
        ),
        (
            "status call rate",
            f"{r.steady_rate:.1f}/s steady · {r.peak_rate:.0f} in busiest 1 s",
            f"cap MAX_STATUS_CALLS_PER_SECOND={r.cap:g}; the bucket starts with 1 s of burst",
        ),
        ("status calls, API vs bot", f"{r.total_calls} vs {counted}", "fake API count vs /metrics counter"),
        ("slash → clip, all renders", f"{r.seconds:.1f} s", f"{r.renders} renders, paced by the cap"),
    ]


def memory_rows(r: memory.MemoryResult) -> list[Row]:
    mib = r.clip_bytes / 1024 / 1024
    attached = "attached" if r.uploaded_bytes == r.clip_bytes else f"NOT attached ({r.uploaded_bytes} B uploaded)"
    return [
        ("slash → clip, 256 KiB", f"{r.small_seconds:.1f} s", "one render, ready on its 2nd status call"),
        (f"slash → clip, {mib:.0f} MiB", f"{r.large_seconds:.1f} s", f"downloaded, then {attached}"),
        (
            f"bot peak RSS, {mib:.0f} MiB clip",
            f"{r.before.peak_mib:.0f} → {r.after.peak_mib:.0f} MiB (+{r.after.peak_mib - r.before.peak_mib:.1f})",
            f"VmHWM before/after delivery; temp files left: {r.leftover_files}",
        ),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller numbers: under a minute")
    parser.add_argument("--in-flight", type=int, help="renders in flight for the latency probes (1000; quick 100)")
    parser.add_argument("--probes", type=int, help="slash commands measured at that load (200; quick 50)")
    parser.add_argument("--renders", type=int, help="renders completed to count status calls (50; quick 20)")
    parser.add_argument("--clip-mb", type=int, default=200, help="size of the large clip in MiB (200)")
    parser.add_argument(
        "--time-scale", type=float, default=scale.TIME_SCALE, help="scale: how much faster time runs (8)"
    )
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    args.in_flight = args.in_flight or (100 if args.quick else 1000)
    args.probes = args.probes or (50 if args.quick else 200)
    args.renders = args.renders or (20 if args.quick else 50)
    return args


async def main(args: argparse.Namespace) -> int:
    idle_probes = 20 if args.quick else 50
    # The scale benchmark sets two trackers side by side: its figures get a table of their own, printed last.
    compared: list[scale.ScaleResult] = []
    bursts: list[burst.BurstResult] = []

    def keep_scale(r: scale.ScaleResult) -> list[Row]:
        compared.append(r)
        return []

    def keep_burst(r: burst.BurstResult) -> list[Row]:
        bursts.append(r)
        return []

    expected: list[expectation.ExpectationResult] = []

    def keep_expectation(r: expectation.ExpectationResult) -> list[Row]:
        expected.append(r)
        return []

    videos: list[video.VideoResult] = []

    def keep_video(r: video.VideoResult) -> list[Row]:
        videos.append(r)
        return []

    fair: list[fairness.FairnessResult] = []

    def keep_fairness(r: fairness.FairnessResult) -> list[Row]:
        fair.append(r)
        return []

    jobs: dict[str, Callable[[], Awaitable[list[Row]]]] = {
        "latency": lambda: _rows(
            latency.run(in_flight=args.in_flight, probes=args.probes, idle_probes=idle_probes, probe_rate=20.0),
            latency_rows,
        ),
        "polling": lambda: _rows(polling.run(renders=args.renders), polling_rows),
        "memory": lambda: _rows(memory.run(clip_mb=args.clip_mb), memory_rows),
        "scale": lambda: _rows(scale.run(k=args.time_scale, **(scale.QUICK if args.quick else {})), keep_scale),
        "burst": lambda: _rows(burst.run(), keep_burst),
        "expectation": lambda: _rows(
            expectation.run(k=args.time_scale, **(expectation.QUICK if args.quick else {})), keep_expectation
        ),
        "video": lambda: _rows(video.run(quick=args.quick), keep_video),
        "fairness": lambda: _rows(fairness.run(), keep_fairness),
    }
    rows: list[Row] = []
    failed = 0
    started = time.monotonic()
    for name in args.only or SCENARIOS:
        print(f"running {name}…", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            rows += await jobs[name]()
        except Exception as error:  # one broken benchmark must not hide the others' figures
            failed += 1
            rows.append((name, "FAILED", f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"))
        print(f"  {name} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    print()
    print(
        f"videobot benchmarks · Python {platform.python_version()} · {os.cpu_count()} CPUs · SQLite · "
        f"{time.monotonic() - started:.0f} s in all{' · quick' if args.quick else ''}"
    )
    if rows:
        print(table(rows))
    for result in compared:
        print()
        print(scale.heading(result))
        print(table(scale.rows(result), scale.HEADERS))
    for bursted in bursts:
        print()
        print(burst.heading(bursted))
        print(table(burst.rows(bursted), burst.HEADERS))
    for result_ in expected:
        print()
        print(expectation.heading(result_))
        print(table(expectation.rows(result_), expectation.HEADERS))
    for filmed in videos:
        print()
        print(video.heading(filmed))
        print(table(video.rows(filmed), video.HEADERS))
    for fair_result in fair:
        print()
        print(fairness.heading(fair_result))
        print(table(fairness.rows(fair_result), fairness.HEADERS))
    return 1 if failed else 0


async def _rows(result: Awaitable[object], render: Callable[..., list[Row]]) -> list[Row]:
    return render(await result)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args(None))))
    except KeyboardInterrupt:
        # asyncio.run has already unwound every `async with`: the bot processes are stopped, scratch dirs gone.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
