"""The tracker: the one loop that carries every accepted render to the channel.

It keeps no state of its own that matters: every decision is written to the database before the next one is
taken, so a restart (or another process after a lease expires) picks up exactly where the last one stopped.
One step of one render is: advance its lifecycle (submit, poll, deliver), then bring its status message up to
date, then say when it wants to be looked at next.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.background import spawn
from bot.domain.attachments import needs_refresh
from bot.domain.models import ImageTransport, ModelSpec, ModelTable, VideoLocation
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import TERMINAL_STATES, FailureKind, RenderState
from bot.services.pacing import CallCap, poll_delay, retry_delay
from bot.services.ports import (
    ChannelGone,
    MessageGone,
    PublishError,
    PublishUnavailable,
    StatusPublisher,
    UploadTooLarge,
)
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.errors import (
    AuthError,
    BadRequest,
    DownloadTooLarge,
    ModelUnavailable,
    NoCredit,
    TaskNotFound,
    VideoApiError,
)
from bot.videoapi.payload import ImageUnavailable, build_create_payload
from bot.videoapi.retry import is_retryable
from bot.videoapi.status import TaskPhase

log = logging.getLogger(__name__)

# Written into shown_hash when the channel is gone, so the tracker stops trying to post there.
CHANNEL_GONE = "channel-gone"
# Written into result_message_id just before the clip is posted: after a crash it says "look for it first".
POSTING = 0
# Held requests are only looked at now and then: the moderators' decision wakes the tracker directly.
APPROVAL_RECHECK = timedelta(hours=1)
# Nobody decided: the credits go back rather than stay held (and block the member's in-flight slots) forever.
APPROVAL_TIMEOUT = timedelta(hours=24)
# accept() asks the moderators itself; the tracker steps in only if that did not happen by then.
ASK_GRACE = timedelta(seconds=60)
# Older gateways answer "task_not_exist" right after creation (modelstream-api.md): only this long is a loss.
NOT_FOUND_GIVE_UP = timedelta(minutes=10)
MAX_SUBMIT_ATTEMPTS = 24
# A Discord attachment URL sent to a model must outlive the create call and the model's own fetch of it.
URL_REFRESH_MARGIN = timedelta(minutes=10)
MAX_DELIVERY_ATTEMPTS = 6
# A render due for this long (or the poll interval, if longer) is asked before renders merely due, however young:
# asking the oldest first must not leave a young render unasked while older ones use the whole budget.
STARVING_AFTER = timedelta(minutes=2)


# Renders the tracker polls; everything else it does (submit, deliver, close, ask moderators) is other work.
POLLING_STATES = frozenset({RenderState.QUEUED, RenderState.RENDERING})
WORK_STATES = frozenset(RenderState) - POLLING_STATES


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TrackerConfig:
    owner: str  # unique per process: leases carry it, and a restart of the same process reclaims its own
    work_dir: Path  # clips are streamed here before upload
    poll_interval: float = 10.0
    render_timeout: float = 3600.0
    max_concurrent: int = 20  # status polls at once: at the API, or next in line for the status-call cap
    max_concurrent_work: int = 10  # submits, deliveries and status edits at once: a lane that polls never fill
    status_calls_per_second: float = 5.0
    status_call_burst: int = 0  # extra status calls allowed within one second
    max_clip_bytes: int = 500 * 1024 * 1024
    model_hold_seconds: float = 1800.0  # how long a model the gateway can't serve is kept off
    lease_seconds: float = 300.0
    idle_wait: float = 1.0  # longest nap between two looks at the database
    claim_batch: int = 200


def visible_state(render: RenderRecord) -> str:
    """A fingerprint of what the status message shows; an edit is sent only when it changes."""
    shown = (
        render.state.value,
        render.progress if render.state is RenderState.RENDERING else None,
        render.failure_kind.value if render.failure_kind else None,
        render.failure_detail,
        render.result_message_id or None,  # POSTING is not something the member sees
        render.decided_by,
    )
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


def clip_filename(render: RenderRecord) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", render.request.prompt.lower()).strip("-")[:40] or "clip"
    return f"{slug}-{render.id[:8]}.mp4"


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
        now: Callable[[], datetime] = utc_now,
        guild_config: GuildConfigRepository | None = None,
        holds: ModelHolds | None = None,
        cap_clock: Callable[[], float] = time.monotonic,  # the status-call cap's clock and sleep (tests fake them)
        cap_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._models = models
        self._holds = holds
        self._renders = renders
        self._images = images
        self._api = api
        self._publisher = publisher
        self._config = config
        self._config_repo = guild_config  # for the moderator channel of held requests
        self._now = now
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
        self._status_calls = CallCap(
            config.status_calls_per_second, burst=config.status_call_burst, clock=cap_clock, sleep=cap_sleep
        )
        self._workers: set[asyncio.Task[None]] = set()
        self.status_calls_made = 0  # for metrics and benchmarks

    @property
    def polls_waiting(self) -> int:
        """Polls queued for the status-call cap right now (for metrics and tests)."""
        return self._status_calls.waiting

    def wake(self) -> None:
        """Look at the database now rather than at the next tick (a request was just accepted or decided)."""
        self._wake.set()

    async def run(self) -> None:
        self._config.work_dir.mkdir(parents=True, exist_ok=True)
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
        database are still open: a step cut off at shutdown can leave the process unable to exit."""
        self._stopping.set()
        self._wake.set()
        workers = set(self._workers)
        if not workers:
            return
        _, unfinished = await asyncio.wait(workers, timeout=grace)
        for worker in unfinished:
            # Safe to cut: every step is resumable from the database after a restart.
            worker.cancel()
        if unfinished:
            log.warning("tracker stopped with %d step(s) cut short", len(unfinished))

    async def tick(self) -> int:
        """Claim what is due, lane by lane, and start a worker for each; returns how many were started.

        Work that makes no status call (submits, deliveries, closing) is claimed apart from polls, so a crowd of
        polls waiting for the status-call cap never keeps a finished clip from being picked up. Polls are
        claimed oldest render first (when the cap binds, the renders most likely done are asked first), a render
        due for long before all others, and only as many as the cap lets through before the next tick.
        """
        started = 0
        for polling in (False, True):
            lane = self._lanes[polling]
            free = self._config.claim_batch - len(lane)
            if polling:
                free = min(free, self._poll_backlog - len(lane - self._asked))
            if free <= 0:
                continue
            now = self._now()
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
                started += 1
        return started

    async def run_until_idle(self, *, max_ticks: int = 1000) -> None:
        """Drive the tracker without its loop until nothing is due (tests and the benchmark use this)."""
        for _ in range(max_ticks):
            await self.tick()
            if self._workers:
                await asyncio.gather(*list(self._workers), return_exceptions=True)
            elif not self._busy:
                return

    async def _run_step(self, render: RenderRecord, polling: bool = False) -> None:
        next_at = self._now() + timedelta(seconds=self._config.poll_interval)
        keeper = spawn(self._keep_lease(render.id), name=f"lease-{render.id}")
        try:
            # A poll waits for the status-call cap inside its poll slot, so its call leaves the moment the cap lets
            # it: a call let through before its step had a slot would leave late, and when slow answers free several
            # slots at once, such calls would go together, past the cap. Waiting polls hold only poll slots, which
            # nothing but polls needs; a render past its time limit makes no call and runs as other work.
            calls = polling and not self._timed_out(render)
            async with self._poll_slots if calls else self._work_slots:
                next_at = await self.step(render)
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
                    now=self._now(),
                )
            except Exception:
                log.exception("render %s: could not release its lease", render.id)
            # Only now may a tick claim it again: before the release its old next_poll_at still looks due.
            self._asked.discard(render.id)
            self._lanes[polling].discard(render.id)
            self._busy.discard(render.id)
            if next_at <= self._now():
                self._wake.set()  # the render has more to do right away (deliver, close): don't wait a tick

    async def _keep_lease(self, render_id: str) -> None:
        """Renew the lease while a long step runs (a big download), so no other process takes the render."""
        period = self._config.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            until = self._now() + timedelta(seconds=self._config.lease_seconds)
            if not await self._renders.extend_lease(render_id, self._config.owner, until=until):
                log.warning("render %s: lease lost during a step", render_id)
                return

    async def step(self, render: RenderRecord) -> datetime:
        """Advance one render by one step; returns when it should be looked at again."""
        render, wait = await self._advance(render)
        render = await self._sync_status(render)
        self._seen[render.id] = render.state
        shown = render.shown_hash in (visible_state(render), CHANNEL_GONE)
        if render.state in TERMINAL_STATES and shown:
            await self._renders.update(render.id, now=self._now(), closed=True)
            log.info("render %s closed as %s", render.id, render.state.value)
        if not shown:
            # The chat side is failing passingly: "right away" would hammer it until it comes back.
            wait = max(wait, timedelta(seconds=self._config.poll_interval))
        return self._now() + wait

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def _advance(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        state = render.state
        if state is RenderState.AWAITING_APPROVAL:
            return await self._hold(render)
        if state is RenderState.ACCEPTED:
            return await self._submit(render)
        if state is RenderState.SUBMITTING:
            # Only a crash leaves a render here (our own submissions are in _busy): the create call may or may
            # not have reached the API, and sending it again could render and charge twice.
            failed = await self._fail(render, FailureKind.LOST_SUBMIT, None)
            return failed, timedelta(0)
        if state in (RenderState.QUEUED, RenderState.RENDERING):
            return await self._poll(render)
        if state is RenderState.SUCCEEDED:
            return await self._deliver(render)
        return render, timedelta(seconds=self._config.poll_interval)

    async def _hold(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        """A request waiting for moderators: make sure they were asked, and give up after APPROVAL_TIMEOUT."""
        now = self._now()
        if now - render.created_at > APPROVAL_TIMEOUT:
            return await self._fail(render, FailureKind.APPROVAL_EXPIRED, None), timedelta(0)
        if render.approval_message_id is not None or render.take_index != 1:
            return render, APPROVAL_RECHECK
        if now - render.created_at < ASK_GRACE:
            # accept() is still asking them itself; look again once it has had its chance.
            return render, ASK_GRACE
        group = await self._renders.list_group(render.group_id)
        rules = await self._config_repo.rules(render.guild_id) if self._config_repo else None
        channel_id = (rules.moderator_channel_id if rules else None) or render.channel_id
        try:
            message_id = await self._publisher.post_approval_request(group, channel_id)
        except PublishError as error:
            log.warning("render %s: moderators not asked yet (%s); will retry", render.id, error)
            return render, timedelta(seconds=max(60.0, self._config.poll_interval))
        for take in group:
            await self._renders.update(take.id, now=now, approval_message_id=message_id)
        log.info("render %s: moderators asked in channel %s", render.id, channel_id)
        return await self._reload(render), APPROVAL_RECHECK

    async def _fail(self, render: RenderRecord, kind: FailureKind, detail: str | None) -> RenderRecord:
        moved = await self._renders.move(
            render.id,
            RenderState.FAILED,
            now=self._now(),
            failure_kind=kind,
            failure_detail=detail,
            finished_at=self._now(),
        )
        log.info("render %s failed (%s): credits refunded", render.id, kind.value)
        if moved is not None and render.shown_hash == CHANNEL_GONE:
            await self._publisher.notify_requester(moved, url=None)
        return moved or await self._reload(render)

    async def _reload(self, render: RenderRecord) -> RenderRecord:
        fresh = await self._renders.get(render.id)
        return fresh if fresh is not None else render

    async def _submit(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        model = self._models.get(render.request.model)
        if model is None or model.mode(render.request.generation_mode) is None:
            # The operator's table no longer has it: nothing can be sent, and waiting will not change that.
            detail = f"`{render.request.model}` ({render.request.generation_mode.value} mode) is no longer in it"
            return await self._fail(render, FailureKind.MODEL_MISCONFIGURED, detail), timedelta(0)
        wanted = [slot.sha256 for slot in render.request.images]
        images = await self._images.get_many(wanted) if wanted else {}
        if len(images) != len(set(wanted)):
            return await self._fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
        try:
            request = await self._fresh_urls(render.request, model)
            payload = build_create_payload(request, model, images)
        except PublishUnavailable as error:
            # Discord is having a moment: keep the request and ask again later, but not for ever (credits and the
            # member's in-flight slot are held meanwhile, and a refusal Discord keeps repeating looks the same).
            attempts = render.poll_count + 1
            if attempts >= MAX_SUBMIT_ATTEMPTS:
                log.warning("render %s: attachment URLs never refreshed (%s); giving up", render.id, error)
                return await self._fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
            await self._renders.update(render.id, now=self._now(), poll_count=attempts)
            log.warning("render %s: attachment URLs not refreshed yet (%s); will retry", render.id, error)
            return await self._reload(render), timedelta(seconds=retry_delay(attempts, self._config.poll_interval))
        except (ImageUnavailable, PublishError) as error:
            log.warning("render %s: an input image can't be sent (%s)", render.id, error)
            return await self._fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
        except ValueError as error:
            # The table loaded, but cannot express this request (an operator's edit a hook can't follow).
            log.error("render %s: model %s: create body cannot be built (%s)", render.id, model.key, error)
            return await self._fail(render, FailureKind.MODEL_MISCONFIGURED, str(error)), timedelta(0)
        submitting = await self._renders.move(render.id, RenderState.SUBMITTING, now=self._now())
        if submitting is None:
            return await self._reload(render), timedelta(0)
        try:
            # One attempt: retries happen from ACCEPTED, so SUBMITTING lasts one request and nothing longer.
            created = await self._api.create(payload, max_attempts=1)
        except VideoApiError as error:
            return await self._submit_failed(submitting, error)
        queued = await self._renders.move(
            render.id,
            RenderState.QUEUED,
            now=self._now(),
            task_id=created.task_id,
            request_id=created.request_id,
            submitted_at=self._now(),
            poll_count=0,
        )
        log.info("render %s submitted as task %s", render.id, created.task_id)
        return queued or await self._reload(render), timedelta(seconds=self._config.poll_interval)

    async def _fresh_urls(self, request: VideoRequest, model: ModelSpec) -> VideoRequest:
        """The request with live attachment URLs, for models that fetch the images themselves.

        A request may wait for approval or a retry for hours, longer than Discord's signed URLs live: those
        about to expire are exchanged for fresh ones (Discord's refresh-urls) just before they are sent.
        """
        if model.image_transport is not ImageTransport.URL or not request.images:
            return request
        now = self._now()
        stale = [
            slot.url
            for slot in request.images
            if slot.url and needs_refresh(slot.url, now, URL_REFRESH_MARGIN.total_seconds())
        ]
        if not stale:
            return request
        fresh = await self._publisher.refresh_attachment_urls(stale)
        lost = [url for url in stale if url not in fresh]
        if lost:
            # Discord no longer has the attachment (deleted, or ephemeral and gone): the model could not fetch it.
            raise ImageUnavailable(f"{len(lost)} attachment URL(s) could not be refreshed")
        return request.with_images(
            tuple(replace(slot, url=fresh.get(slot.url, slot.url) if slot.url else None) for slot in request.images)
        )

    async def _submit_failed(self, render: RenderRecord, error: VideoApiError) -> tuple[RenderRecord, timedelta]:
        if isinstance(error, ModelUnavailable):
            # Retrying cannot help until the gateway serves the model again: refund, say so, and stop offering it.
            until = self._now() + timedelta(seconds=self._config.model_hold_seconds)
            if self._holds is not None:
                await self._holds.hold(render.request.model, until)
            log.warning(
                "render %s: model %s unavailable at the gateway; held until %s", render.id, render.request.model, until
            )
            model = self._models.get(render.request.model)
            name = model.name if model is not None else render.request.model
            return await self._fail(render, FailureKind.MODEL_UNAVAILABLE, name), timedelta(0)
        if is_retryable(error, create=True) and render.poll_count + 1 < MAX_SUBMIT_ATTEMPTS:
            # The API certainly never took it: keep the request and try again later (an outage delays a clip).
            attempts = render.poll_count + 1
            back = await self._renders.move(render.id, RenderState.ACCEPTED, now=self._now(), poll_count=attempts)
            delay = max(retry_delay(attempts, self._config.poll_interval), getattr(error, "retry_after", None) or 0)
            log.warning("render %s: API unavailable (%s); retrying in %.0f s", render.id, error, delay)
            return back or await self._reload(render), timedelta(seconds=delay)
        kind = FailureKind.API_UNAVAILABLE
        detail: str | None = None
        if isinstance(error, BadRequest):
            kind, detail = FailureKind.API_REJECTED, error.message
        elif isinstance(error, NoCredit):
            kind = FailureKind.NO_CREDIT
        elif isinstance(error, AuthError):
            kind = FailureKind.AUTH
        log.warning("render %s: create refused (%s)", render.id, type(error).__name__)
        return await self._fail(render, kind, detail), timedelta(0)

    def _timed_out(self, render: RenderRecord) -> bool:
        submitted = render.submitted_at or render.created_at
        return (self._now() - submitted).total_seconds() > self._config.render_timeout

    async def _poll(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        if self._timed_out(render):
            return await self._fail(render, FailureKind.TIMEOUT, None), timedelta(0)
        assert render.task_id is not None
        model = self._models.get(render.request.model)
        await self._status_calls.acquire()
        # Nothing may wait between the cap and the call: the cap counts the moments calls leave.
        self._asked.add(render.id)
        self.status_calls_made += 1
        now = self._now()  # after the wait for the cap: what the answer says is true now
        submitted = render.submitted_at or render.created_at
        age = (now - submitted).total_seconds()
        try:
            # One attempt: a retry inside the client would be a status call the cap never saw.
            status = await self._api.status(
                render.task_id, video_path=model.video_path if model else None, max_attempts=1
            )
        except TaskNotFound:
            if now - submitted > NOT_FOUND_GIVE_UP:
                return await self._fail(render, FailureKind.RENDER_FAILED, "ModelStream no longer knows this task"), (
                    timedelta(0)
                )
            return render, timedelta(seconds=self._config.poll_interval)
        except VideoApiError as error:
            attempts = render.poll_count + 1
            await self._renders.update(render.id, now=now, poll_count=attempts)
            log.warning("render %s: status check failed (%s); retrying", render.id, type(error).__name__)
            return render, timedelta(seconds=retry_delay(attempts, self._config.poll_interval))
        wait = timedelta(seconds=poll_delay(age, self._config.poll_interval))
        if status.phase is TaskPhase.SUCCEEDED:
            # Models whose status has no URL (Veo) are fetched through the gateway's /content instead.
            from_content = model is not None and model.video is VideoLocation.CONTENT
            moved = await self._renders.move(
                render.id,
                RenderState.SUCCEEDED,
                now=now,
                video_url=None if from_content else status.video_url,
                progress=100,
                finished_at=now,
                poll_count=0,
            )
            log.info("render %s finished at the API", render.id)
            return moved or await self._reload(render), timedelta(0)
        if status.phase is TaskPhase.FAILED:
            return await self._fail(render, FailureKind.RENDER_FAILED, status.failure_reason), timedelta(0)
        target = RenderState.RENDERING if status.phase is TaskPhase.RUNNING else RenderState.QUEUED
        progress = status.progress if status.progress is not None else render.progress
        if target is render.state and progress == render.progress:
            return render, wait
        fields: dict[str, object] = {"progress": progress, "poll_count": 0}
        if target is RenderState.RENDERING and render.started_at is None:
            fields["started_at"] = now
        moved = await self._renders.move(render.id, target, now=now, **fields)
        return moved or await self._reload(render), wait

    async def _deliver(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        now = self._now()
        if render.shown_hash == CHANNEL_GONE:
            # Nowhere to upload it: the requester gets the link by DM, and the clip need not be fetched at all.
            await self._publisher.notify_requester(render, url=render.video_url)
            return await self._delivered(render, None), timedelta(0)
        # Only an earlier attempt that got as far as posting can have left a clip in the channel: look for it
        # then, and only then (a search per delivery would cost every render a history read).
        existing = await self._publisher.find_delivery(render) if render.result_message_id == POSTING else None
        if existing is not None:
            log.info("render %s: clip already in the channel (message %s); adopting it", render.id, existing)
            return await self._delivered(render, existing), timedelta(0)
        limit = min(render.upload_limit, self._config.max_clip_bytes)
        path = self._config.work_dir / f"{render.id}.mp4"
        try:
            try:
                size = await self._api.download(render.task_id or "", render.video_url, path, max_bytes=limit)
            except DownloadTooLarge:
                return await self._deliver_link(render)
            except VideoApiError as error:
                return await self._delivery_failed(render, error)
            log.info("render %s: clip downloaded (%d bytes)", render.id, size)
            try:
                await self._renders.update(render.id, now=now, result_message_id=POSTING)
                message_id = await self._publisher.deliver_file(render, path, clip_filename(render))
            except UploadTooLarge:
                return await self._deliver_link(render)
            except ChannelGone:
                await self._renders.update(render.id, now=now, shown_hash=CHANNEL_GONE)
                await self._publisher.notify_requester(render, url=render.video_url)
                return await self._delivered(render, None), timedelta(0)
            except PublishError as error:
                return self._post_later(render, error)
            return await self._delivered(render, message_id), timedelta(0)
        finally:
            path.unlink(missing_ok=True)

    async def _delivery_failed(self, render: RenderRecord, error: VideoApiError) -> tuple[RenderRecord, timedelta]:
        attempts = render.poll_count + 1
        if render.video_url is None and (attempts >= MAX_DELIVERY_ATTEMPTS or not is_retryable(error, create=False)):
            # The gateway's /content was the only way to the clip (Veo): it said done but has nothing to give
            # (a clip filtered after the fact), so there is no link to fall back to. Nothing was delivered.
            log.warning("render %s: the gateway has no video for task %s (%s)", render.id, render.task_id, error)
            return await self._fail(render, FailureKind.NO_VIDEO, None), timedelta(0)
        if attempts >= MAX_DELIVERY_ATTEMPTS:
            log.warning("render %s: clip download keeps failing (%s); linking it", render.id, error)
            return await self._deliver_link(render)
        await self._renders.update(render.id, now=self._now(), poll_count=attempts)
        return render, timedelta(seconds=retry_delay(attempts, self._config.poll_interval))

    async def _deliver_link(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        try:
            await self._renders.update(render.id, now=self._now(), result_message_id=POSTING)
            message_id = await self._publisher.deliver_link(render, render.video_url, None)
            return await self._delivered(render, message_id), timedelta(0)
        except ChannelGone:
            await self._renders.update(render.id, now=self._now(), shown_hash=CHANNEL_GONE)
        except PublishError as error:
            return self._post_later(render, error)
        await self._publisher.notify_requester(render, url=render.video_url)
        return await self._delivered(render, None), timedelta(0)

    def _post_later(self, render: RenderRecord, error: PublishError) -> tuple[RenderRecord, timedelta]:
        # A passing chat-side failure (5xx, network): the clip stays SUCCEEDED and is posted on a later step.
        log.warning("render %s: clip not posted (%s); will retry", render.id, error)
        return render, timedelta(seconds=self._config.poll_interval)

    async def _delivered(self, render: RenderRecord, message_id: int | None) -> RenderRecord:
        moved = await self._renders.move(
            render.id, RenderState.DELIVERED, now=self._now(), result_message_id=message_id
        )
        log.info("render %s delivered (message %s)", render.id, message_id)
        return moved or await self._reload(render)

    # ---- the status message ----------------------------------------------------------------------------

    async def _sync_status(self, render: RenderRecord) -> RenderRecord:
        if render.shown_hash == CHANNEL_GONE:
            return render
        wanted = visible_state(render)
        if render.status_message_id is not None and render.shown_hash == wanted:
            return render
        try:
            if render.status_message_id is None:
                message_id = await self._publisher.post_status(render)
                if not await self._renders.set_first_status_message(
                    render.id, message_id, now=self._now(), shown_hash=wanted
                ):
                    # accept() got there first after all: one status message per render.
                    await self._publisher.delete_message(render.channel_id, message_id)
                return await self._reload(render)
            try:
                await self._publisher.edit_status(render)
            except MessageGone:
                log.info("render %s: status message was deleted; posting a new one", render.id)
                message_id = await self._publisher.post_status(render)
                await self._renders.update(render.id, now=self._now(), status_message_id=message_id, shown_hash=wanted)
                return await self._reload(render)
        except ChannelGone:
            log.info("render %s: channel %s is gone", render.id, render.channel_id)
            await self._renders.update(render.id, now=self._now(), shown_hash=CHANNEL_GONE)
            if render.state in (RenderState.FAILED, RenderState.DENIED):
                await self._publisher.notify_requester(render, url=None)
            return await self._reload(render)
        except PublishError as error:
            log.warning("render %s: status message not updated (%s); will retry", render.id, error)
            return render
        await self._renders.update(render.id, now=self._now(), shown_hash=wanted)
        return await self._reload(render)
