"""The tracker: the one loop that carries every accepted render to the channel.

It keeps no state of its own that matters: every decision is written to the database before the next one is
taken, so a restart (or another process after a lease expires) picks up exactly where the last one stopped.
This module schedules: it claims what is due, lane by lane, under leases, and runs one step per render. A step
advances the render's lifecycle (bot.services.lifecycle: approval, submit, poll) or delivers its clip
(bot.services.delivery), then brings its status card up to date (bot.services.cards), then says when it wants to
be looked at next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import datetime, timedelta

from bot.background import spawn
from bot.clock import SYSTEM_CLOCK, Clock
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.states import AT_API_STATES, TERMINAL_STATES, RenderState
from bot.media import VideoWorker
from bot.metrics import TRACKER_SLOTS, TRACKER_SLOTS_IN_USE
from bot.services.cards import CardEdits, StatusCards, card_shown, visible_state
from bot.services.delivery import Delivery, clip_filename
from bot.services.estimates import Estimates
from bot.services.gallery import ResultMessages
from bot.services.lifecycle import Lifecycle
from bot.services.pacing import CallCap
from bot.services.ports import StatusPublisher
from bot.services.steps import StepContext, TrackerConfig
from bot.services.task_journal import TaskJournal
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import LeasedRenders, LeaseLost, RenderRepository
from bot.videoapi.client import VideoApiClient

__all__ = ["Tracker", "TrackerConfig", "clip_filename", "visible_state"]

log = logging.getLogger(__name__)

# A render due for this long (or the poll interval, if longer) is asked before renders merely due, however young:
# asking the oldest first must not leave a young render unasked while older ones use the whole budget.
STARVING_AFTER = timedelta(minutes=2)
# A create in flight at shutdown is waited for beyond the grace by up to the API timeout and this much: cut off,
# it could leave a task rendering (and billed) that the bot never hears of.
CREATE_GRACE_MARGIN = 5.0

# The queue pass (places in line written, renders whose turn came made due) runs at most this often, unless a slot
# at the API freed or a request arrived: a place moving from 9th to 3rd within it is one card edit, not six.
QUEUE_PASS = timedelta(seconds=5)

# Renders the tracker polls; everything else it does (submit, deliver, close, ask moderators) is other work.
POLLING_STATES = frozenset({RenderState.QUEUED, RenderState.RENDERING})
WORK_STATES = frozenset(RenderState) - POLLING_STATES


class Tracker:
    def __init__(
        self,
        renders: RenderRepository,
        images: ImageStore,
        api: VideoApiClient,
        publisher: StatusPublisher,
        config: TrackerConfig,
        *,
        models: ModelTable,
        clock: Clock = SYSTEM_CLOCK,
        guild_config: GuildConfigRepository | None = None,
        holds: ModelHolds | None = None,
        estimates: Estimates | None = None,
        media: VideoWorker | None = None,
    ) -> None:
        self._renders = renders
        self._config = config
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._busy: set[str] = set()
        # Renders claimed per lane: polls waiting for the status-call cap must not stop deliveries being claimed.
        self._lanes: dict[bool, set[str]] = {True: set(), False: set()}
        self._asked: set[str] = set()  # polls of the lane whose status call the cap has let through
        # Polls claimed but not yet let through: about what the cap passes until the next tick. Claiming more would
        # fix the order renders are asked in long before they are asked (a render falling due meanwhile, older and
        # likelier done, would queue behind them) and keep them from other processes sharing the database.
        self._poll_backlog = math.ceil(config.status_calls_per_second * config.idle_wait) + config.status_call_burst + 1
        self._seen: dict[str, RenderState] = {}  # the state each running step left its render in
        self._poll_slots = asyncio.Semaphore(config.max_concurrent)
        self._work_slots = asyncio.Semaphore(config.max_concurrent_work)
        TRACKER_SLOTS.labels(lane="poll").set(config.max_concurrent)
        TRACKER_SLOTS.labels(lane="work").set(config.max_concurrent_work)
        self._status_calls = CallCap(
            config.status_calls_per_second, burst=config.status_call_burst, clock=clock.monotonic, sleep=clock.sleep
        )
        self._workers: set[asyncio.Task[None]] = set()
        self._creating: set[asyncio.Task[None]] = set()  # steps that may be sending a create right now
        self.status_calls_made = 0  # for metrics and benchmarks
        self._journal = TaskJournal(config.work_dir / "created-tasks.jsonl")
        ctx = StepContext(
            renders=LeasedRenders(renders, config.owner),
            images=images,
            api=api,
            publisher=publisher,
            config=config,
            models=models,
            clock=clock,
            holds=holds,
            guild_config=guild_config,
            estimates=estimates,
            media=media,
        )
        self._lifecycle = Lifecycle(
            ctx, status_calls=self._status_calls, journal=self._journal, on_status_call=self._status_call_made
        )
        self._delivery = Delivery(ctx)
        # The requests' result messages, for the Delete button of a take (which edits the message the tracker fills).
        self.results = ResultMessages(ctx)
        # Card edits go out in the background, never within a step; what a card shows is a fact, written unleased.
        self._cards = CardEdits(StatusCards(ctx, renders), renders, clock=clock)
        self._queue_stale = True  # something changed the bot's own queue: look at it on the next tick
        self._last_places: datetime | None = None

    @property
    def polls_waiting(self) -> int:
        """Polls queued for the status-call cap right now (for metrics and tests)."""
        return self._status_calls.waiting

    def wake(self) -> None:
        """Look at the database now rather than at the next tick (a request was just accepted or decided)."""
        self._queue_stale = True
        self._wake.set()

    def _status_call_made(self, render_id: str) -> None:
        self._asked.add(render_id)
        self.status_calls_made += 1

    async def prepare(self) -> None:
        """Before the first tick: drop kept clips and journal entries that no open render needs any more."""
        self._config.work_dir.mkdir(parents=True, exist_ok=True)
        awaiting_delivery = await self._renders.open_ids({RenderState.SUCCEEDED})
        self._delivery.clean_kept_clips(awaiting_delivery)
        self._journal.keep_only(await self._renders.open_ids({RenderState.SUBMITTING}))

    async def run(self) -> None:
        await self.prepare()
        log.info("tracker %s started", self._config.owner)
        while not self._stopping.is_set():
            # Cleared before the tick, so a wake-up arriving during it triggers the next tick at once.
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("tracker tick failed; retrying shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._config.idle_wait)
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)

    async def stop(self, grace: float = 10.0) -> None:
        """Claim nothing more and let the steps in progress finish (up to `grace` seconds) while Discord and the
        database are still open: a step cut off at shutdown can leave the process unable to exit.

        A step that may be sending a create is waited for longer, up to the API timeout: cut off after the API
        took the request, it would leave a task rendering (and billed) with no record of it.
        """
        self._stopping.set()
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace  # card edits still waiting get what is left of it
        workers = set(self._workers)
        if not workers:
            await self._cards.stop(grace)
            return
        _, unfinished = await asyncio.wait(workers, timeout=grace)
        creating = unfinished & self._creating
        if creating:
            log.info("waiting for %d create call(s) in flight before stopping", len(creating))
            await asyncio.wait(creating, timeout=self._config.api_timeout + CREATE_GRACE_MARGIN)
        for worker in unfinished:
            # Safe to cut: every other step is resumable from the database after a restart.
            if not worker.done():
                worker.cancel()
        cut = [worker for worker in unfinished if worker.cancelled() or not worker.done()]
        if cut:
            log.warning("tracker stopped with %d step(s) cut short", len(cut))
        await self._cards.stop(max(0.0, deadline - loop.time()))

    async def tick(self) -> int:
        """Claim what is due, lane by lane, and start a worker for each; returns how many were started.

        Work that makes no status call (submits, deliveries, closing) is claimed apart from polls, so a crowd of
        polls waiting for the status-call cap never keeps a finished clip from being picked up. Polls are
        claimed oldest render first (when the cap binds, the renders most likely done are asked first), a render
        due for long before all others, and only as many as the cap lets through before the next tick.
        """
        started = 0
        await self._look_at_queue()
        for polling in (False, True):
            lane = self._lanes[polling]
            free = self._config.claim_batch - len(lane)
            if polling:
                free = min(free, self._poll_backlog - len(lane - self._asked))
            if free <= 0:
                continue
            now = self._clock.now()
            starving = max(STARVING_AFTER, timedelta(seconds=self._config.poll_interval))
            due = await self._renders.claim_due(
                self._config.owner,
                now=now,
                limit=free,
                lease_seconds=self._config.lease_seconds,
                states=POLLING_STATES if polling else WORK_STATES,
                oldest_first=polling,
                overdue_before=now - starving if polling else None,
                # Ours already, and still due until their step ends: they would only take the places of others.
                exclude=self._busy,
            )
            for render in due:
                if render.id in self._busy:
                    continue
                self._busy.add(render.id)
                self._lanes[polling].add(render.id)
                worker = spawn(self._run_step(render, polling), name=f"render-{render.id}")
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
                if render.state is RenderState.ACCEPTED:
                    self._creating.add(worker)
                    worker.add_done_callback(self._creating.discard)
                started += 1
        return started

    async def run_until_idle(self, *, max_ticks: int = 1000) -> None:
        """Drive the tracker without its loop until nothing is due (tests and the benchmark use this)."""
        for _ in range(max_ticks):
            await self.tick()
            stepping = bool(self._workers)
            await asyncio.gather(*list(self._workers), return_exceptions=True)
            await self._cards.drain()  # the card edits the steps asked for, and the closing they bring
            if not stepping and not self._busy:
                return

    async def _run_step(self, render: RenderRecord, polling: bool = False) -> None:
        next_at = self._clock.now() + timedelta(seconds=self._config.poll_interval)
        keeper = spawn(self._keep_lease(render.id), name=f"lease-{render.id}")
        lane = "poll" if polling else "work"
        try:
            # A poll waits for the status-call cap inside its poll slot, so its call leaves the moment the cap lets
            # it: a call let through before its step had a slot would leave late, and when slow answers free several
            # slots at once, such calls would go together, past the cap. Waiting polls hold only poll slots, which
            # nothing but polls needs.
            async with self._poll_slots if polling else self._work_slots:
                TRACKER_SLOTS_IN_USE.labels(lane=lane).inc()
                try:
                    next_at = await self.step(render)
                finally:
                    TRACKER_SLOTS_IN_USE.labels(lane=lane).dec()
        except LeaseLost as error:
            # Another process holds the render now: whatever this step meant to write is no longer its to write.
            log.warning("render %s: step stopped, %s", render.id, error)
        except Exception:
            log.exception("render %s: step failed; will retry", render.id)
        finally:
            keeper.cancel()
            try:
                await self._renders.release(
                    render.id,
                    self._config.owner,
                    next_poll_at=next_at,
                    seen_state=self._seen.pop(render.id, render.state),
                    now=self._clock.now(),
                )
            except Exception:
                log.exception("render %s: could not release its lease", render.id)
            # Only now may a tick claim it again: before the release its old next_poll_at still looks due.
            self._asked.discard(render.id)
            self._lanes[polling].discard(render.id)
            self._busy.discard(render.id)
            if next_at <= self._clock.now():
                self._wake.set()  # the render has more to do right away (deliver, close): don't wait a tick

    async def _look_at_queue(self) -> None:
        """The bot's own queue: renders whose turn came are made due now, and places in line are written (their
        cards show them), at most every QUEUE_PASS for places, so each card is edited at most that often."""
        now = self._clock.now()
        write_places = self._last_places is None or now - self._last_places >= QUEUE_PASS
        if not (self._queue_stale or write_places):
            return
        self._queue_stale = False
        try:
            looked = await self._renders.queue_pass(
                now=now, cap=self._config.max_renders_at_api, write_places=write_places
            )
        except Exception:
            log.exception("queue pass failed; the next tick tries again")
            return
        if write_places:
            self._last_places = now
        for render in looked.moved:
            self._cards.request(render)

    async def _keep_lease(self, render_id: str) -> None:
        """Renew the lease while a long step runs (a big download), so no other process takes the render."""
        period = self._config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            until = self._clock.now() + timedelta(seconds=self._config.lease_seconds)
            if not await self._renders.extend_lease(render_id, self._config.owner, until=until):
                log.warning("render %s: lease lost during a step", render_id)
                return

    async def step(self, render: RenderRecord) -> datetime:
        """Advance one render by one step; returns when it should be looked at again."""
        was_at_api = render.state in AT_API_STATES
        if render.state is RenderState.SUCCEEDED:
            render, wait = await self._delivery.deliver(render)
        else:
            render, wait = await self._lifecycle.advance(render)
        await self._lifecycle.close_undecided_approval(render)
        if was_at_api and render.state not in AT_API_STATES:
            self._queue_stale = True  # a slot at the API is free: the next in line goes now, not at the next pass
        self._seen[render.id] = render.state
        shown = card_shown(render)
        if not shown:
            # Sent in the background: a step never waits for the channel's edit budget, so clips don't either.
            self._cards.request(render)
        if render.state in TERMINAL_STATES and shown:
            await self._renders.update_leased(
                render.id, now=self._clock.now(), owner=self._config.owner, fields={"closed": True}
            )
            log.info("render %s closed as %s", render.id, render.state.value)
        elif render.state in TERMINAL_STATES:
            # The card edits close it once the card shows its end; this look is for a card that could not be shown
            # (Discord failing passingly: "right away" would hammer it until it comes back).
            wait = max(wait, timedelta(seconds=self._config.poll_interval))
        return self._clock.now() + wait
