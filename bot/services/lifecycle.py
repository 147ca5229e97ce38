"""The render's road to the API and back: moderators asked, the create sent, the task polled until it ends.

Every decision is written before the next is taken; the tracker calls `advance` once per step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from bot.domain.attachments import needs_refresh
from bot.domain.models import ImageTransport, ModelSpec, VideoLocation
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.metrics import STATUS_CALLS
from bot.services.pacing import CallCap, expected_poll_delay, poll_delay, retry_delay
from bot.services.ports import PublishError, PublishUnavailable
from bot.services.steps import StepContext
from bot.services.task_journal import TaskJournal
from bot.storage.renders import LeaseLost
from bot.videoapi.errors import (
    AuthError,
    BadRequest,
    ModelUnavailable,
    NoCredit,
    RateLimited,
    TaskNotFound,
    VideoApiError,
)
from bot.videoapi.payload import ImageUnavailable, build_create_payload
from bot.videoapi.retry import is_retryable
from bot.videoapi.status import TaskPhase

log = logging.getLogger("bot.services.tracker")

# Ways a held request ends without a moderator's decision: its approval message is closed by the tracker.
UNDECIDED_ENDINGS = frozenset(
    {FailureKind.APPROVAL_EXPIRED, FailureKind.CANCELLED, FailureKind.PAUSED, FailureKind.BANNED}
)
# Held requests are only looked at now and then: the moderators' decision wakes the tracker directly.
APPROVAL_RECHECK = timedelta(hours=1)
# Nobody decided: the credits go back rather than stay held (and block the member's in-flight slots) forever.
APPROVAL_TIMEOUT = timedelta(hours=24)
# accept() asks the moderators itself; the tracker steps in only if that did not happen by then.
ASK_GRACE = timedelta(seconds=60)
# Older gateways answer "task_not_exist" right after creation (modelstream-api.md): only this long is a loss.
NOT_FOUND_GIVE_UP = timedelta(minutes=10)
MAX_SUBMIT_ATTEMPTS = 24
# A render refused its turn in the bot's own queue asks again after this at the latest: the tracker's queue pass
# makes it due as soon as a slot at the API is its, so this only covers a pass that never came.
QUEUE_RECHECK = timedelta(minutes=1)
# After the gateway refused a create (429) while renders of ours were there, the queue waits for one of them to
# finish, or this long at most (seconds); then it sends one render to see whether the gateway takes more.
API_HOLD_FALLBACK = 180.0
# A Discord attachment URL sent to a model must outlive the create call and the model's own fetch of it.
URL_REFRESH_MARGIN = timedelta(minutes=10)
# The task id of a create that succeeded must reach the database: these waits (about half a minute in all) ride out
# a database restart or a lock held for a while. The journal covers what is left.
RECORD_TASK_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# At most this much time between two status answers counts as the API working on the render: a longer gap means
# the bot (or the API) was away, and a render must not time out for that.
MIN_ANSWER_GAP_COUNTED = 300.0
# Each first status call moves the running figure of how late first calls leave by this share of its own delay.
FIRST_CALL_LATE_WEIGHT = 0.1


def _human_span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class Lifecycle:
    def __init__(
        self,
        ctx: StepContext,
        *,
        status_calls: CallCap,
        journal: TaskJournal,
        on_status_call: Callable[[str], None],
    ) -> None:
        self._ctx = ctx
        self._status_calls = status_calls
        self._journal = journal
        self._on_status_call = on_status_call  # the tracker's count of calls let through by the cap
        self._first_call_late = 0.0  # how late first status calls leave after they were due, lately (seconds)

    async def advance(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        state = render.state
        if state is RenderState.AWAITING_APPROVAL:
            return await self._hold(render)
        if state is RenderState.ACCEPTED:
            return await self._submit(render)
        if state is RenderState.SUBMITTING:
            return await self._recover_submit(render)
        if state in (RenderState.QUEUED, RenderState.RENDERING):
            return await self._poll(render)
        return render, timedelta(seconds=self._ctx.config.poll_interval)

    # ---- approval ----------------------------------------------------------------------------------------

    async def _hold(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        """A request waiting for moderators: make sure they were asked, and give up after APPROVAL_TIMEOUT."""
        ctx = self._ctx
        now = ctx.now()
        if now - render.created_at > APPROVAL_TIMEOUT:
            return await ctx.fail(render, FailureKind.APPROVAL_EXPIRED, None), timedelta(0)
        if render.approval_message_id is not None or render.take_index != 1:
            return render, APPROVAL_RECHECK
        if now - render.created_at < ASK_GRACE:
            # accept() is still asking them itself; look again once it has had its chance.
            return render, ASK_GRACE
        group = await ctx.renders.list_group(render.group_id)
        rules = await ctx.guild_config.rules(render.guild_id) if ctx.guild_config else None
        channel_id = (rules.moderator_channel_id if rules else None) or render.channel_id
        try:
            message_id = await ctx.publisher.post_approval_request(group, channel_id)
        except PublishError as error:
            log.warning("render %s: moderators not asked yet (%s); will retry", render.id, error)
            return render, timedelta(seconds=max(60.0, ctx.config.poll_interval))
        await ctx.renders.update(render.id, now=now, approval_message_id=message_id)
        # The other takes are not this step's to lease: the message is recorded on them all the same.
        await ctx.renders.set_group_approval_message(render.group_id, message_id, now=now)
        log.info("render %s: moderators asked in channel %s", render.id, channel_id)
        return await ctx.reload(render), APPROVAL_RECHECK

    async def close_undecided_approval(self, render: RenderRecord) -> None:
        """A held request that ended without a decision (expired, cancelled, paused, banned): its message to the
        moderators says so and loses its buttons. Once per request (its first take); failures are only logged, as
        the message is a courtesy and the render is over either way."""
        ctx = self._ctx
        if (
            render.state is not RenderState.FAILED
            or render.failure_kind not in UNDECIDED_ENDINGS
            or render.approval_message_id is None
            or render.take_index != 1
            or render.closed
        ):
            return
        rules = await ctx.guild_config.rules(render.guild_id) if ctx.guild_config else None
        channel_id = (rules.moderator_channel_id if rules else None) or render.channel_id
        try:
            await ctx.publisher.close_approval_request(render, channel_id, render.approval_message_id)
        except PublishError as error:
            log.info("render %s: approval message not closed (%s)", render.id, error)

    # ---- submission --------------------------------------------------------------------------------------

    async def _submit(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        now = ctx.now()
        # The submit deadline counts from the moment the render was first let through to the API (`ready_at`, set
        # by the admission): the time it waited in the bot's own queue for a slot (MAX_RENDERS_AT_API) is the
        # line, not the API refusing it, and a long line must not fail renders that were never sent.
        deadline = render.ready_at + timedelta(seconds=ctx.config.submit_deadline) if render.ready_at else None
        if deadline is not None and now > deadline:
            detail = _human_span(ctx.config.submit_deadline)
            log.warning("render %s: not taken by the API within %s; giving up", render.id, detail)
            return await ctx.fail(render, FailureKind.SUBMIT_DEADLINE, detail), timedelta(0)
        model = ctx.models.get(render.request.model)
        if model is None or model.mode(render.request.generation_mode) is None:
            # The operator's table no longer has it: nothing can be sent, and waiting will not change that.
            detail = f"`{render.request.model}` ({render.request.generation_mode.value} mode) is no longer in it"
            return await ctx.fail(render, FailureKind.MODEL_MISCONFIGURED, detail), timedelta(0)
        cap = ctx.config.max_renders_at_api
        # A look first: a render whose turn it is not does not build its request (images, fresh URLs) for nothing.
        turn = await ctx.renders.queue_turn(render.id, now=now, cap=cap)
        if not turn.go:
            return render, turn.next_look(now, recheck=QUEUE_RECHECK, deadline=deadline)
        wanted = [slot.sha256 for slot in render.request.images]
        images = await ctx.images.get_many(wanted) if wanted else {}
        if len(images) != len(set(wanted)):
            return await ctx.fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
        try:
            request = await self._fresh_urls(render.request, model)
            # Base64 of several large images and the JSON around them: seconds of CPU the event loop must not wait.
            payload = await asyncio.to_thread(build_create_payload, request, model, images)
        except PublishUnavailable as error:
            # Discord is having a moment: keep the request and ask again later (the submit deadline bounds it).
            attempts = render.attempts + 1
            if attempts >= MAX_SUBMIT_ATTEMPTS:
                log.warning("render %s: attachment URLs never refreshed (%s); giving up", render.id, error)
                return await ctx.fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
            await ctx.renders.update(render.id, now=ctx.now(), attempts=attempts)
            log.warning("render %s: attachment URLs not refreshed yet (%s); will retry", render.id, error)
            return await ctx.reload(render), timedelta(seconds=retry_delay(attempts, ctx.config.poll_interval))
        except (ImageUnavailable, PublishError) as error:
            log.warning("render %s: an input image can't be sent (%s)", render.id, error)
            return await ctx.fail(render, FailureKind.INPUT_MISSING, None), timedelta(0)
        except ValueError as error:
            # The table loaded, but cannot express this request (an operator's edit a hook can't follow).
            log.error("render %s: model %s: create body cannot be built (%s)", render.id, model.key, error)
            return await ctx.fail(render, FailureKind.MODEL_MISCONFIGURED, str(error)), timedelta(0)
        submitting, turn = await ctx.renders.admit(render.id, now=ctx.now(), cap=cap)
        if submitting is None:
            # Moved meanwhile (cancelled, say), or another render took the slot while this one built its request.
            wait = timedelta(0) if turn.go else turn.next_look(ctx.now(), recheck=QUEUE_RECHECK, deadline=deadline)
            return await ctx.reload(render), wait
        try:
            # One attempt: retries happen from ACCEPTED, so SUBMITTING lasts one request and nothing longer.
            created = await ctx.api.create(payload, max_attempts=1)
        except VideoApiError as error:
            return await self._submit_failed(submitting, error)
        self._journal.record(render.id, created.task_id, created.request_id)
        queued = await self._record_task(render, created.task_id, created.request_id)
        log.info("render %s submitted as task %s", render.id, created.task_id)
        return queued, await self._next_poll(render, elapsed=0.0, api_seconds=0.0)

    async def _record_task(self, render: RenderRecord, task_id: str, request_id: str | None) -> RenderRecord:
        """Write the task id of a create the API accepted, trying until it lands: a render whose task id is known
        must never be taken for lost (the API is rendering it, and charging for it)."""
        ctx = self._ctx
        for attempt, delay in enumerate((*RECORD_TASK_DELAYS, None), start=1):
            try:
                now = ctx.now()
                queued = await ctx.renders.move(
                    render.id,
                    RenderState.QUEUED,
                    now=now,
                    task_id=task_id,
                    request_id=request_id,
                    submitted_at=now,
                    attempts=0,
                )
                return queued or await ctx.reload(render)
            except LeaseLost:
                raise
            except Exception as error:
                if delay is None:
                    log.error(
                        "render %s: task %s is rendering but the database refused it %d times (%s); the task "
                        "journal keeps it for the next start",
                        render.id,
                        task_id,
                        attempt,
                        type(error).__name__,
                    )
                    raise
                log.warning(
                    "render %s: task %s accepted by the API, not recorded yet (%s); retrying in %.1f s",
                    render.id,
                    task_id,
                    type(error).__name__,
                    delay,
                )
                await ctx.clock.sleep(delay)
        raise AssertionError("unreachable")

    async def _recover_submit(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        """A render left SUBMITTING (only a crash or a database outage does that; our own creates are in hand):
        the journal may know its task. Without it, the create may or may not have reached the API, and sending it
        again could render and charge twice."""
        ctx = self._ctx
        known = self._journal.find(render.id)
        if known is not None:
            task_id, request_id = known
            log.warning("render %s: task %s found in the journal after a restart; polling it", render.id, task_id)
            return await self._record_task(render, task_id, request_id), timedelta(0)
        return await ctx.fail(render, FailureKind.LOST_SUBMIT, None), timedelta(0)

    async def _fresh_urls(self, request: VideoRequest, model: ModelSpec) -> VideoRequest:
        """The request with live attachment URLs, for models that fetch the images themselves.

        A request may wait for approval or a retry for hours, longer than Discord's signed URLs live: those
        about to expire are exchanged for fresh ones (Discord's refresh-urls) just before they are sent.
        """
        if model.image_transport is not ImageTransport.URL or not request.images:
            return request
        now = self._ctx.now()
        stale = [
            slot.url
            for slot in request.images
            if slot.url and needs_refresh(slot.url, now, URL_REFRESH_MARGIN.total_seconds())
        ]
        if not stale:
            return request
        fresh = await self._ctx.publisher.refresh_attachment_urls(stale)
        lost = [url for url in stale if url not in fresh]
        if lost:
            # Discord no longer has the attachment (deleted, or ephemeral and gone): the model could not fetch it.
            raise ImageUnavailable(f"{len(lost)} attachment URL(s) could not be refreshed")
        return request.with_images(
            tuple(replace(slot, url=fresh.get(slot.url, slot.url) if slot.url else None) for slot in request.images)
        )

    async def _submit_failed(self, render: RenderRecord, error: VideoApiError) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        if isinstance(error, ModelUnavailable):
            # Retrying cannot help until the gateway serves the model again: refund, say so, and stop offering it.
            until = ctx.now() + timedelta(seconds=ctx.config.model_hold_seconds)
            if ctx.holds is not None:
                await ctx.holds.hold(render.request.model, until)
            log.warning(
                "render %s: model %s unavailable at the gateway; held until %s", render.id, render.request.model, until
            )
            model = ctx.models.get(render.request.model)
            name = model.name if model is not None else render.request.model
            return await ctx.fail(render, FailureKind.MODEL_UNAVAILABLE, name), timedelta(0)
        if is_retryable(error, create=True) and render.attempts + 1 < MAX_SUBMIT_ATTEMPTS:
            # The API certainly never took it: keep the request and try again later (an outage delays a clip).
            attempts = render.attempts + 1
            delay = max(retry_delay(attempts, ctx.config.poll_interval), getattr(error, "retry_after", None) or 0)
            back = await ctx.renders.move(render.id, RenderState.ACCEPTED, now=ctx.now(), attempts=attempts)
            if isinstance(error, RateLimited):
                delay = max(delay, await self._hold_queue(render, delay, error))
            log.warning("render %s: API unavailable (%s); retrying in %.0f s", render.id, error, delay)
            return back or await ctx.reload(render), timedelta(seconds=delay)
        kind = FailureKind.API_UNAVAILABLE
        detail: str | None = None
        if isinstance(error, BadRequest):
            kind, detail = FailureKind.API_REJECTED, error.message
        elif isinstance(error, NoCredit):
            kind = FailureKind.NO_CREDIT
        elif isinstance(error, AuthError):
            kind = FailureKind.AUTH
        log.warning("render %s: create refused (%s)", render.id, type(error).__name__)
        return await ctx.fail(render, kind, detail), timedelta(0)

    async def _hold_queue(self, render: RenderRecord, backoff: float, error: RateLimited) -> float:
        """The gateway is full (the key's concurrency cap, or its own load): the whole queue waits for a render of
        ours to finish (or the back-off), rather than every waiting render finding out on its own. Returns the
        seconds until the hold ends (0 if it could not be written: this render's own back-off still applies)."""
        ctx = self._ctx
        try:
            hold = await ctx.renders.hold_api(
                render.id, now=ctx.now(), backoff=backoff, fallback=API_HOLD_FALLBACK, retry_after=error.retry_after
            )
        except LeaseLost:
            raise
        except Exception as failure:
            log.warning("render %s: queue hold not recorded (%s)", render.id, type(failure).__name__)
            return 0.0
        return (hold.until - ctx.now()).total_seconds()

    # ---- polling -----------------------------------------------------------------------------------------

    def _answer_gap_counted(self) -> float:
        return max(MIN_ANSWER_GAP_COUNTED, 3 * self._ctx.config.poll_interval)

    async def _next_poll(self, render: RenderRecord, *, elapsed: float, api_seconds: float) -> timedelta:
        """When to ask about a render next: by what renders of its kind took, else by its age (today's schedule).

        The estimate is compared with the time since submit, as it was measured; the age schedule keeps counting
        the time the API was seen working, as before.
        """
        interval = self._ctx.config.poll_interval
        estimates = self._ctx.estimates
        estimate = await estimates.estimate(render.request) if estimates is not None else None
        if estimate is None:
            return timedelta(seconds=poll_delay(api_seconds, interval))
        # The first wait stays within the gap counted as the API's work, so the render timeout still counts it.
        longest = self._answer_gap_counted()
        late = self._first_call_late
        return timedelta(seconds=expected_poll_delay(elapsed, estimate, interval, late=late, longest=longest))

    async def _poll(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        assert render.task_id is not None
        model = ctx.models.get(render.request.model)
        await self._status_calls.acquire()
        # Nothing may wait between the cap and the call: the cap counts the moments calls leave.
        self._on_status_call(render.id)
        STATUS_CALLS.inc()
        now = ctx.now()  # after the wait for the cap: what the answer says is true now
        if render.poll_count == 0 and render.next_poll_at is not None:
            # Bounded: a render left due through a restart says nothing about how late calls leave now.
            late = min(max(0.0, (now - render.next_poll_at).total_seconds()), self._answer_gap_counted())
            self._first_call_late += FIRST_CALL_LATE_WEIGHT * (late - self._first_call_late)
        submitted = render.submitted_at or render.created_at
        try:
            # One attempt: a retry inside the client would be a status call the cap never saw.
            status = await ctx.api.status(
                render.task_id, video_path=model.video_path if model else None, max_attempts=1
            )
        except TaskNotFound:
            if now - submitted > NOT_FOUND_GIVE_UP:
                return await ctx.fail(render, FailureKind.RENDER_FAILED, "ModelStream no longer knows this task"), (
                    timedelta(0)
                )
            return render, timedelta(seconds=ctx.config.poll_interval)
        except VideoApiError as error:
            # No answer: the time until one comes does not count against the render (see _poll's timeout).
            attempts = render.attempts + 1
            await ctx.renders.update(render.id, now=now, attempts=attempts)
            log.warning("render %s: status check failed (%s); retrying", render.id, type(error).__name__)
            return render, timedelta(seconds=retry_delay(attempts, ctx.config.poll_interval))
        # The API answered: count the time since its last answer as time it worked on the render, up to a bound,
        # so a render is never timed out for a stretch nobody could ask (the bot down, the API unreachable).
        last = render.last_answer_at or submitted
        gap = min(max(0.0, (now - last).total_seconds()), self._answer_gap_counted())
        api_seconds = render.api_seconds + gap
        answered: dict[str, object] = {
            "api_seconds": api_seconds,
            "last_answer_at": now,
            "poll_count": render.poll_count + 1,
            "attempts": 0,
        }
        wait = await self._next_poll(render, elapsed=(now - submitted).total_seconds(), api_seconds=api_seconds)
        if status.phase is TaskPhase.SUCCEEDED:
            # Models whose status has no URL (Veo) are fetched through the gateway's /content instead.
            from_content = model is not None and model.video is VideoLocation.CONTENT
            moved = await ctx.renders.move(
                render.id,
                RenderState.SUCCEEDED,
                now=now,
                video_url=None if from_content else status.video_url,
                progress=100,
                finished_at=now,
                **answered,
            )
            log.info("render %s finished at the API", render.id)
            return moved or await ctx.reload(render), timedelta(0)
        if status.phase is TaskPhase.FAILED:
            return await ctx.fail(render, FailureKind.RENDER_FAILED, status.failure_reason), timedelta(0)
        if api_seconds > ctx.config.render_timeout:
            # Timed out only now, with the API's word that it is still unfinished.
            log.info("render %s: still unfinished after %.0f s at the API; giving up", render.id, api_seconds)
            return await ctx.fail(render, FailureKind.TIMEOUT, None), timedelta(0)
        target = RenderState.RENDERING if status.phase is TaskPhase.RUNNING else RenderState.QUEUED
        progress = status.progress if status.progress is not None else render.progress
        fields: dict[str, object] = {**answered, "progress": progress}
        if target is render.state and progress == render.progress:
            await ctx.renders.update(render.id, now=now, **answered)
            return await ctx.reload(render), wait
        if target is RenderState.RENDERING and render.started_at is None:
            fields["started_at"] = now
        moved = await ctx.renders.move(render.id, target, now=now, **fields)
        return moved or await ctx.reload(render), wait
