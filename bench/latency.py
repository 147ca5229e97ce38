"""Slash-to-defer latency: how long a member waits for "thinking…" while the bot tracks many renders.

The renders never finish (the fake API's "stuck" outcome), so everything accepted stays in flight and the
tracker keeps polling all of it at its rate cap while the probe commands are measured.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.harness import Memory, World, read_memory, wait_until, world
from tests.fakes.discord import FakeInteraction

# Everything is due again after a second and the cap is ten times the product's default, so the tracker is
# busy all the time (claiming, polling, releasing leases) rather than idle between rare polls.
POLL_INTERVAL = 1.0
STATUS_CAP = 50.0
MEMBERS = 10
FILL_WINDOW = 25  # commands outstanding at once while filling: a busy server, not a flood


@dataclass(frozen=True)
class LatencyResult:
    in_flight: int
    idle: list[float]  # defer latencies with (almost) nothing in flight
    fill: list[float]  # while filling, FILL_WINDOW commands outstanding at a time
    loaded: list[float]  # paced probes with `in_flight` renders being polled
    fill_seconds: float
    refused: int  # commands that were not accepted (should be 0)
    unanswered: int  # probes without any callback (should be 0)
    status_rate: float  # status calls per second the API saw during the loaded probes
    memory: Memory  # the bot's, after the probes


async def _paced(w: World, count: int, start: int, rate: float) -> list[FakeInteraction]:
    """Send `count` commands at a steady `rate` per second, as members would, without waiting for answers."""
    sent: list[FakeInteraction] = []
    began = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        sent.append(await w.slash_generate(start + i))
    return sent


async def _answers(w: World, interactions: list[FakeInteraction]) -> list[str]:
    return list(await asyncio.gather(*(w.answered(i, within=120) for i in interactions)))


def _latencies(w: World, interactions: list[FakeInteraction]) -> tuple[list[float], int]:
    found = [w.defer_latency(i) for i in interactions]
    return [v for v in found if v is not None], sum(v is None for v in found)


def _refused(answers: list[str]) -> int:
    # The accepted reply states the cost; any refusal (quota, permissions) does not.
    return sum("Cost:" not in a for a in answers)


async def run(*, in_flight: int, probes: int, idle_probes: int, probe_rate: float) -> LatencyResult:
    async with world() as w:
        w.api.configure(outcome="stuck", shape="A")
        w.add_members(MEMBERS)
        await w.start_bot(POLL_INTERVAL_SECONDS=str(POLL_INTERVAL), MAX_STATUS_CALLS_PER_SECOND=str(STATUS_CAP))
        sent = 0
        # Warm-up: the first command pays for lazy imports and caches; it is not a member's typical wait.
        refused = _refused(await _answers(w, [await w.slash_generate(sent)]))
        sent += 1

        idle = await _paced(w, idle_probes, sent, probe_rate)
        sent += idle_probes
        refused += _refused(await _answers(w, idle))

        fill_started = time.monotonic()
        window = asyncio.Semaphore(FILL_WINDOW)
        filled: list[FakeInteraction] = []

        async def one(n: int) -> str:
            async with window:
                interaction = await w.slash_generate(n)
                filled.append(interaction)
                return await w.answered(interaction, within=120)

        fill_count = max(0, in_flight - sent)
        refused += _refused(list(await asyncio.gather(*(one(sent + i) for i in range(fill_count)))))
        sent += fill_count
        await wait_until(
            lambda: len(w.api.create_calls) >= sent, within=300, what=f"{sent} renders submitted to the API"
        )
        fill_seconds = time.monotonic() - fill_started

        calls_before, started = w.status_calls(), time.monotonic()
        loaded = await _paced(w, probes, sent, probe_rate)
        answers = await _answers(w, loaded)
        status_rate = (w.status_calls() - calls_before) / (time.monotonic() - started)
        refused += _refused(answers)

        idle_values, idle_missing = _latencies(w, idle)
        fill_values, fill_missing = _latencies(w, filled)
        loaded_values, loaded_missing = _latencies(w, loaded)
        return LatencyResult(
            in_flight=sent,
            idle=idle_values,
            fill=fill_values,
            loaded=loaded_values,
            fill_seconds=fill_seconds,
            refused=refused,
            unanswered=idle_missing + fill_missing + loaded_missing,
            status_rate=status_rate,
            memory=read_memory(w.bot_pid),
        )
