"""A burst in one channel: 20 renders finish together under Discord's edit limit; how soon the clips and the final
cards arrive, today's order next to clips first.

The scenario of the burst issue: 20 renders in one channel (the takes of one request, say: submitted together,
polled together) are found done by their next status call, all due at the same moment, while Discord lets a
channel's messages be edited 5 times per 5 seconds. It runs in this process, on real time (nothing is scaled:
Discord's buckets are real time): the real tracker on a temporary SQLite file, the real API client against the
fake gateway, and the real `DiscordPublisher` over a real discord.py client logged in to the fake Discord, which
enforces the edit limit and sends Discord's rate-limit headers. So the pacing measured is discord.py's own, the
one the bot runs with. Next to it, `bench.burst_baseline.TodaysOrder` (bench only): the tracker as it was before
the burst issue, each step editing its card inline, within its slot.

Time 0 ("completion") is the moment the tracker starts, with every render due and done at the API. The clip's time
is when the fake Discord created its message; a card is final when its last edit shows the clip delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import discord

from bench.burst_baseline import TodaysOrder
from bench.stats import percentile
from bot.clock import utc_now
from bot.discord_app.client import point_discord_at
from bot.discord_app.publisher import DiscordPublisher
from bot.discord_app.ui.text import STATE_TITLES
from bot.domain.models import ModelTable, load_model_table
from bot.domain.render import NewRender
from bot.domain.states import RenderState
from bot.services.cards import visible_state
from bot.services.tracker import Tracker, TrackerConfig
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.retry import RetryPolicy
from tests.fakes.discord import MESSAGE_ROUTE, FakeDiscord
from tests.fakes.video_api import FakeVideoApi, TaskScript
from tests.storage.builders import accept_all, video_request

RENDERS = 20
EDITS_PER_WINDOW = 5  # Discord's per-channel message edit limit
EDIT_WINDOW = 5.0
# The bot's defaults (bot/settings.py).
POLL_INTERVAL = 10.0
STATUS_CAP = 5.0
MAX_CONCURRENT_POLLS = 20
MAX_CONCURRENT_DELIVERIES = 10
IDLE_WAIT = 1.0
VIDEO_SIZE = 256 * 1024
TARGET_CLIP = 12.0  # the issue: the last of 20 clips within 12 s of completion
EDIT_FLOOR = RENDERS / EDITS_PER_WINDOW * EDIT_WINDOW  # 20 edits at 5 per 5 s: the "about 20 s"
TARGET_CARD = EDIT_FLOOR + 5.0  # "plus a few seconds"
GIVE_UP = 180.0  # longest wait for every render to be closed
API_KEY = "sk-bench-burst-0123456789abcdef"
ORDERS = (("today", "today's order (inline card edits)"), ("new", "clips first, coalesced cards"))
DONE_TITLE = STATE_TITLES[RenderState.DELIVERED]


@dataclass(frozen=True)
class BurstRun:
    order: str  # "today" or "new"
    clips: list[float]  # seconds from completion to each clip posted
    cards_final: list[float]  # seconds from completion to each card's final edit (cards shown final only)
    cards_not_final: int  # cards whose last edit does not show the clip delivered
    clip_before_card: int  # renders whose clip was posted before their card's final edit
    edits: int  # card edits Discord accepted
    refused_429: int  # 429s the fake Discord sent, every route
    closed: int  # renders closed by the end
    seconds: float  # until every render was closed (or GIVE_UP)
    errors: int
    first_error: str


@dataclass(frozen=True)
class BurstResult:
    runs: list[BurstRun]

    def run(self, order: str) -> BurstRun | None:
        return next((r for r in self.runs if r.order == order), None)


class _Errors(logging.Handler):
    """Counts the bot's errors: a figure from a run full of failed steps would mislead."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            cause = f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})" if record.exc_info else ""
            self.first = record.getMessage() + cause


@contextlib.asynccontextmanager
async def _quiet_logs(errors: _Errors) -> AsyncIterator[None]:
    bot_log, discord_log = logging.getLogger("bot"), logging.getLogger("discord")
    bot_log.addHandler(errors)
    bot_log.propagate = False  # counted, not printed over the table
    level = discord_log.level
    discord_log.setLevel(logging.ERROR)  # discord.py's "rate limited" warnings: the fake counts the 429s itself
    try:
        yield
    finally:
        bot_log.removeHandler(errors)
        bot_log.propagate = True
        discord_log.setLevel(level)


@contextlib.asynccontextmanager
async def _discord_client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """A real discord.py client on the fake's REST API, as the bot's own (REST only: the tracker needs no gateway)."""
    previous = discord.http.Route.BASE
    point_discord_at(fake.api_base)  # what DISCORD_API_BASE does in the bot
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(fake.token)
        yield client
    finally:
        await client.close()
        discord.http.Route.BASE = previous


async def _seed(repo: RenderRepository, api: FakeVideoApi, publisher: DiscordPublisher, fake: FakeDiscord) -> list[str]:
    """20 renders of one request in one channel, each card showing "Rendering · 90%", all due now and done at the
    API (their next status call says so). The cards are posted through the publisher, as the bot posts them."""
    now = utc_now()
    ids = []
    for n in range(RENDERS):
        task_id = api.add_task(script=TaskScript(render_polls=0, video_size=VIDEO_SIZE))
        new = NewRender(
            fake.guild_id,
            fake.channel_id,
            fake.alice.id,
            video_request(f"burst clip {n}"),
            5,
            25 * 1024 * 1024,
            RenderState.RENDERING,
        )
        _, [render] = await repo.reserve([new], accept_all, now=now)
        submitted = now - timedelta(seconds=60)
        await repo.update(
            render.id, now=now, task_id=task_id, submitted_at=submitted, started_at=submitted, progress=90
        )
        render = await repo.get(render.id)
        assert render is not None
        message_id = await publisher.post_status(render)
        await repo.set_first_status_message(render.id, message_id, now=now, shown_hash=visible_state(render))
        await repo.update(render.id, now=now, next_poll_at=now)
        ids.append(render.id)
    return ids


async def _until_closed(repo: RenderRepository, ids: Sequence[str]) -> int:
    """Wait until every render is closed (or GIVE_UP); returns how many were."""
    deadline = time.monotonic() + GIVE_UP
    while True:
        closed = 0
        for render_id in ids:
            render = await repo.get(render_id)
            closed += bool(render is not None and render.closed)
        if closed == len(ids) or time.monotonic() > deadline:
            return closed
        # A benchmark driver, not a test: the database has no event to wait on.
        await asyncio.sleep(0.2)


def _figures(order: str, fake: FakeDiscord, cards: Sequence[int], started: float) -> dict[str, object]:
    clips: list[float] = []
    finals: list[float] = []
    not_final = before = 0
    for card_id in cards:
        card = fake.message(card_id)
        assert card is not None
        clip = next((m for m in fake.messages() if m.reply_to == card_id and m.attachments), None)
        if clip is not None:
            clips.append(clip.created_at - started)
        # The card's title: the heading of a Components V2 card (or an embed's title, for a card from before V2).
        title = card.texts[0].removeprefix("### ") if card.texts else str((card.embeds or [{}])[0].get("title", ""))
        final = title.startswith(DONE_TITLE)
        if not final or card.edited_at is None:
            not_final += 1
            continue
        finals.append(card.edited_at - started)
        before += clip is not None and clip.created_at < card.edited_at
    return {
        "order": order,
        "clips": clips,
        "cards_final": finals,
        "cards_not_final": not_final,
        "clip_before_card": before,
        "edits": sum(1 for r in fake.requests_to(MESSAGE_ROUTE, "PATCH") if r.status == 200),
        "refused_429": fake.count_429(),
    }


def _tracker(order: str, *parts: object, models: ModelTable, database: Database) -> Tracker:
    kind = TodaysOrder if order == "today" else Tracker
    return kind(*parts, models=models, holds=ModelHolds(database))  # type: ignore[arg-type]


async def _one(order: str) -> BurstRun:
    errors = _Errors()
    scratch = Path(tempfile.mkdtemp(prefix="videobot-burst-"))
    database = Database.from_url(f"sqlite:///{scratch / 'bench.sqlite3'}")
    try:
        await database.upgrade()
        async with (
            _quiet_logs(errors),
            FakeDiscord() as fake,
            FakeVideoApi(api_key=API_KEY) as api,
            aiohttp.ClientSession() as session,
            _discord_client(fake) as client,
        ):
            models = load_model_table()
            publisher = DiscordPublisher(render_timeout=3600.0, models=models)
            publisher.bind(client)
            repo = RenderRepository(database)
            ids = await _seed(repo, api, publisher, fake)
            cards = [m.id for m in fake.messages()]
            fake.edit_limit(per=EDITS_PER_WINDOW, seconds=EDIT_WINDOW)
            config = TrackerConfig(
                owner=f"bench-burst-{order}",
                work_dir=scratch / "work",
                poll_interval=POLL_INTERVAL,
                idle_wait=IDLE_WAIT,
                max_concurrent=MAX_CONCURRENT_POLLS,
                max_concurrent_work=MAX_CONCURRENT_DELIVERIES,
                status_calls_per_second=STATUS_CAP,
            )
            api_client = VideoApiClient(session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=4))
            tracker = _tracker(
                order, repo, ImageStore(database), api_client, publisher, config, models=models, database=database
            )
            started = time.monotonic()
            runner = asyncio.create_task(tracker.run(), name=f"burst-{order}")
            try:
                closed = await _until_closed(repo, ids)
                seconds = time.monotonic() - started
            finally:
                await tracker.stop(grace=10.0)
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
            figures = _figures(order, fake, cards, started)
    finally:
        await database.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return BurstRun(**figures, closed=closed, seconds=seconds, errors=errors.count, first_error=errors.first)  # type: ignore[arg-type]


async def run() -> BurstResult:
    return BurstResult([await _one(order) for order, _ in ORDERS])


# ---- the printed table -----------------------------------------------------------------------------------


def _s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.1f} s"


def _last(values: Sequence[float]) -> float:
    return max(values, default=math.nan)


def _verdict(result: BurstResult, meets: Callable[[BurstRun], bool]) -> str:
    return ", ".join(f"{order} {'yes' if meets(r) else 'NO'}" for order, _ in ORDERS if (r := result.run(order)))


def rows(result: BurstResult) -> list[tuple[str, ...]]:
    """figure | today's order | clips first | target."""
    runs = [result.run(order) for order, _ in ORDERS]

    def cells(show: Callable[[BurstRun], str]) -> tuple[str, ...]:
        return tuple("n/a" if r is None else show(r) for r in runs)

    def on_time(r: BurstRun) -> bool:
        return len(r.clips) == RENDERS and _last(r.clips) <= TARGET_CLIP

    def cards_on_time(r: BurstRun) -> bool:
        return r.cards_not_final == 0 and _last(r.cards_final) <= TARGET_CARD

    return [
        (
            "completion → last clip",
            *cells(lambda r: f"{_s(_last(r.clips))} · median {_s(percentile(r.clips, 50))} · {len(r.clips)} clips"),
            f"last ≤ {TARGET_CLIP:g} s: {_verdict(result, on_time)}",
        ),
        (
            "completion → last final card",
            *cells(lambda r: f"{_s(_last(r.cards_final))} · {len(r.cards_final)} of {RENDERS} final"),
            f"≤ {TARGET_CARD:g} s (floor {EDIT_FLOOR:g} s + 5): {_verdict(result, cards_on_time)}",
        ),
        ("429s received", *cells(lambda r: str(r.refused_429)), f"0: {_verdict(result, lambda r: r.refused_429 == 0)}"),
        ("card edits sent", *cells(lambda r: str(r.edits)), f"least possible {RENDERS}: one final edit per card"),
        ("clip before its card's final edit", *cells(lambda r: f"{r.clip_before_card} of {RENDERS}"), ""),
        (
            "health of the run",
            *cells(lambda r: f"closed {r.closed}/{RENDERS} in {r.seconds:.0f} s · errors {r.errors}"),
            "",
        ),
    ]


HEADERS = ("figure", *(label for _, label in ORDERS), "target (burst issue)")


def heading(result: BurstResult) -> str:
    first_error = next((r.first_error for r in result.runs if r.first_error), "")
    said = f"\nfirst error: {first_error}" if first_error else ""
    return (
        f"burst · {RENDERS} renders in one channel done at once · Discord edit limit {EDITS_PER_WINDOW} per "
        f"{EDIT_WINDOW:g} s per channel · real time, real discord.py · defaults: POLL_INTERVAL {POLL_INTERVAL:g} s, "
        f"MAX_STATUS_CALLS_PER_SECOND {STATUS_CAP:g}, MAX_CONCURRENT_DELIVERIES {MAX_CONCURRENT_DELIVERIES}{said}"
    )
