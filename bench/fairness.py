"""Fairness of the bot's own queue: one member asks for four takes, then six members ask for one each, against
MAX_RENDERS_AT_API=2; in which order do they start?

In-process, on a fake clock (nothing waits for real time): the real `Tracker` on a temporary SQLite file, the real
API client against the fake gateway, whose key runs at most two renders at once (a third create is refused 429
`token_concurrency_limit_reached`). Every render takes as long as the others, so renders start two at a time, in
rounds. Printed side by side:

* first come first served (today's order: no cap-aware queue, the requests sent as they came, two at a time),
  worked out from the arrival order;
* the bot with MAX_RENDERS_AT_API=2, measured: the order in which the gateway took the renders;
* the bot without MAX_RENDERS_AT_API, measured: the gateway's 429s make it hold the queue, which then goes in the
  same fair order, after the refusals it took to find the gateway's limit.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.clock import Clock
from bot.domain.models import load_model_table
from bot.domain.render import NewRender
from bot.domain.states import RenderState
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.video_api import FakeVideoApi
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import CHANNEL, GUILD, accept_all, video_request

CAP = 2
POLL_INTERVAL = 10.0  # the bot's default
RENDER_POLLS = 3  # status calls a render answers "not done": every render is about as long as the others
# (member, takes) in the order they ask, one second apart.
REQUESTS = (("A", 4), ("B", 1), ("C", 1), ("D", 1), ("E", 1), ("F", 1), ("G", 1))
START = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
HEADERS = ("round", "first come first served (today)", f"MAX_RENDERS_AT_API={CAP}", "no cap: the key's 429s")


@dataclass(frozen=True)
class Run:
    rounds: list[list[str]]  # members whose renders started together, round by round
    refused: int  # creates the gateway refused (429)
    delivered: int


@dataclass(frozen=True)
class FairnessResult:
    first_come: list[list[str]]
    capped: Run
    uncapped: Run


class _VirtualClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - START).total_seconds()


async def _no_sleep(delay: float) -> None:
    return None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The tracker logs every step at INFO; the benchmark prints figures only."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def first_come_first_served() -> list[list[str]]:
    """Today's order: every render in the order asked, two at a time."""
    order = [member for member, takes in REQUESTS for _ in range(takes)]
    return [order[index : index + CAP] for index in range(0, len(order), CAP)]


async def _one(cap: int | None) -> Run:
    clock = _VirtualClock()
    folder = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    db = Database.from_url(f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}")
    try:
        await db.upgrade()
        async with FakeVideoApi(clock=clock.seconds) as api, aiohttp.ClientSession() as session:
            api.configure(render_polls=RENDER_POLLS)
            api.concurrency_limit = CAP
            client = VideoApiClient(
                session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=1), sleep=_no_sleep
            )
            repo = RenderRepository(db)
            publisher = RecordingPublisher()
            config = TrackerConfig(
                owner="bench",
                work_dir=folder / "work",
                poll_interval=POLL_INTERVAL,
                status_calls_per_second=1_000_000.0,
                max_renders_at_api=cap,
            )
            tracker = Tracker(
                repo, ImageStore(db), client, publisher, config, models=load_model_table(), clock=Clock(now=clock)
            )
            for user, (member, takes) in enumerate(REQUESTS, start=1):
                request = video_request(member, takes=takes)
                new = [
                    NewRender(GUILD, CHANNEL, user, request, 5, 25 * 1024 * 1024, RenderState.ACCEPTED)
                    for _ in range(takes)
                ]
                await repo.reserve(new, accept_all, now=clock())
                clock.now += timedelta(seconds=1)
            with _quiet():
                for _ in range(500):
                    await tracker.run_until_idle()
                    pending = [r for r in await repo.recent(GUILD, limit=100) if not r.closed]
                    if not pending:
                        break
                    next_at = min(r.next_poll_at or clock.now for r in pending)
                    clock.now = max(clock.now + timedelta(seconds=1), next_at)
                await tracker.stop()
            started: dict[float, list[str]] = {}
            for task in api.tasks.values():
                started.setdefault(task.created_at, []).append(str(task.request["prompt"]))
            return Run(
                rounds=[sorted(members) for _, members in sorted(started.items())],
                refused=api.concurrency_refusals,
                delivered=len(publisher.deliveries),
            )
    finally:
        await db.close()
        shutil.rmtree(folder, ignore_errors=True)


async def run() -> FairnessResult:
    return FairnessResult(first_come=first_come_first_served(), capped=await _one(CAP), uncapped=await _one(None))


def _round_of(rounds: list[list[str]]) -> dict[str, list[int]]:
    """Per member, the round each of their renders started in (1-based)."""
    out: dict[str, list[int]] = {}
    for number, members in enumerate(rounds, start=1):
        for member in members:
            out.setdefault(member, []).append(number)
    return out


def rows(result: FairnessResult) -> list[tuple[str, ...]]:
    orders = (result.first_come, result.capped.rounds, result.uncapped.rounds)
    length = max(len(order) for order in orders)
    out: list[tuple[str, ...]] = [
        (str(number), *(" ".join(order[number - 1]) if number <= len(order) else "" for order in orders))
        for number in range(1, length + 1)
    ]
    singles = [member for member, takes in REQUESTS if takes == 1]
    many = next(member for member, takes in REQUESTS if takes > 1)

    def figure(show: str) -> tuple[str, ...]:
        cells: list[str] = []
        for order in orders:
            rounds = _round_of(order)
            if show == "mean":
                cells.append(f"{statistics.fmean(rounds[m][0] for m in singles):.1f}")
            elif show == "last":
                cells.append(str(max(rounds[m][0] for m in singles)))
            else:
                cells.append(", ".join(map(str, rounds[many])))
        return tuple(cells)

    out += [
        ("single requests: mean round", *figure("mean")),
        ("last single request: round", *figure("last")),
        (f"{many}'s four takes: rounds", *figure("takes")),
        (
            "creates refused (429)",
            "(the key refuses none: two at a time)",
            str(result.capped.refused),
            str(result.uncapped.refused),
        ),
        (
            "clips delivered",
            str(sum(takes for _, takes in REQUESTS)),
            str(result.capped.delivered),
            str(result.uncapped.delivered),
        ),
    ]
    return out


def heading(result: FairnessResult) -> str:
    return (
        f"fairness · member A asks for 4 takes, then B-G for 1 each (1 s apart); the key runs {CAP} renders at once; "
        f"renders of equal length start {CAP} at a time, in rounds\n"
        "first come first served is worked out from the arrival order; the two bot columns are measured (real "
        "tracker, SQLite, fake gateway, virtual clock); without the cap, the first round is whichever creates reached "
        "the key first, and the queue goes fairly once its 429 holds it"
    )
