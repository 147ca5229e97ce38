"""Getting a finished clip into its channel, whatever Discord answers.

Discord's answers come in four kinds (see ports): passing ones are retried with back-off; a missing permission
waits, at a slow pace, for a moderator to give it back (the card says so, the requester gets one DM); a refusal of
this message moves to the next form (file, then link, then a DM); a channel that is gone sends the clip by DM.
Nothing is retried for ever: past `delivery_wait` the render ends failed, with a refund, where the member can see
it. The downloaded clip is kept between attempts (within a disk budget), so a retry never downloads it again.

A clip over the channel's upload limit (read at run time, or learnt from Discord's 413) is re-encoded to fit and
posted with the original's link beside it; only when it can't fit is it linked. The re-encoded copy is kept
beside the download, so a retry never encodes it again either.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Collection, Sequence
from datetime import timedelta
from pathlib import Path

from bot.domain.render import RenderRecord
from bot.domain.states import FailureKind, RenderState
from bot.media import MediaError
from bot.metrics import DISCORD_GIVE_UPS, DISCORD_RETRIES
from bot.services.gallery import BUSY_RETRY, GalleryBusy, Post, ResultMessages
from bot.services.pacing import retry_delay
from bot.services.ports import (
    ChannelGone,
    MessageRefused,
    PermissionMissing,
    PublishError,
    UploadTooLarge,
)
from bot.services.steps import StepContext
from bot.videoapi.errors import DownloadTooLarge, NotAVideo, VideoApiError
from bot.videoapi.retry import is_retryable

log = logging.getLogger("bot.services.tracker")

MAX_DOWNLOAD_ATTEMPTS = 6
# A moderator has to notice and act: asking Discord more often than this changes nothing but the load.
PERMISSION_RETRY = timedelta(minutes=5)
# The forms a clip is offered in, each tried once Discord refused the one before for good.
LINK = "link"
DIRECT_MESSAGE = "dm"
NEXT_FORM = {None: LINK, LINK: DIRECT_MESSAGE}
# Discord refused a file as too large although it was under the limit the interaction gave (a server that lost
# its boost): no server accepts less than this, and the next try aims at most at 3/4 of what was refused.
DISCORD_BASE_UPLOAD = 10 * 1024 * 1024


def _size(path: Path) -> int:
    return path.stat().st_size


def clip_filename(render: RenderRecord) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", render.request.prompt.lower()).strip("-")[:40] or "clip"
    return f"{slug}-{render.id[:8]}.mp4"


class Delivery:
    def __init__(self, ctx: StepContext) -> None:
        self._ctx = ctx
        self._clips = ctx.config.work_dir / "clips"
        self._results = ResultMessages(ctx)

    def clip_path(self, render_id: str) -> Path:
        return self._clips / f"{render_id}.mp4"

    def fitted_path(self, render_id: str) -> Path:
        """The clip re-encoded under the upload limit, kept beside the download until it is posted."""
        return self._clips / f"{render_id}.fit.mp4"

    def _drop_clip(self, render_id: str) -> None:
        self.clip_path(render_id).unlink(missing_ok=True)
        self.fitted_path(render_id).unlink(missing_ok=True)

    def clean_kept_clips(self, keep: set[str]) -> None:
        """At start-up: remove clips of renders that no longer need them, and any download cut short."""
        self._clips.mkdir(parents=True, exist_ok=True)
        for path in self._clips.iterdir():
            if path.suffix != ".mp4" or path.name.split(".", 1)[0] not in keep:
                path.unlink(missing_ok=True)

    async def deliver(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        now = ctx.now()
        if render.chat_gone:
            # Nowhere to upload it: the requester gets the link by DM, and the clip need not be fetched at all.
            await ctx.publisher.notify_requester(render, url=render.video_url)
            return await self._delivered(render, None), timedelta(0)
        # Only an earlier attempt that got as far as posting can have left a clip in the channel: look for it
        # then, and only then (a search per delivery would cost every render a history read).
        if render.posting_since is not None:
            existing = await ctx.publisher.find_delivery(render)
            if existing is not None:
                log.info("render %s: clip already in the channel (message %s); adopting it", render.id, existing)
                await self._results.adopt(render, existing)
                return await self._delivered(render, existing), timedelta(0)
        if render.chat_blocked_until is not None and now > render.chat_blocked_until:
            return await self._give_up_blocked(render)
        if render.fallback == DIRECT_MESSAGE:
            return await self._deliver_by_dm(render)
        path = self.clip_path(render.id)
        fitted = self.fitted_path(render.id)
        size: int | None = None
        if render.fallback is None and not path.exists() and not fitted.exists():
            # A clip over the upload limit is worth downloading only when it can be re-encoded to fit.
            limit = ctx.config.max_clip_bytes
            if ctx.media is None:
                limit = min(render.upload_limit, limit)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                # One attempt: the next is the tracker's, on a later step, outside the slot this one holds.
                size = await ctx.api.download(
                    render.task_id or "", render.video_url, path, max_bytes=limit, max_attempts=1
                )
            except DownloadTooLarge:
                return await self._next_form(render, "over the upload limit")
            except NotAVideo as error:
                log.warning("render %s: the result is not a video (%s); refunding", render.id, error)
                return await ctx.fail(render, FailureKind.NOT_A_VIDEO, None), timedelta(0)
            except VideoApiError as error:
                return await self._download_failed(render, error)
            log.info("render %s: clip downloaded (%d bytes)", render.id, size)
        too_large = render.fallback is None and not fitted.exists() and _size(path) > render.upload_limit
        if too_large and not await self._fit(render, path, fitted):
            return await self._next_form(render, "over the upload limit, even re-encoded")
        try:
            await ctx.renders.update(render.id, now=now, posting_since=now)
            # Into the request's one result message, beside its other takes' clips (see bot.services.gallery).
            message_id = await self._results.deliver(render, self._poster(render, path, fitted, size))
        except GalleryBusy:
            # Another take of the request is adding its clip to the result message: this one goes right after.
            await ctx.renders.update(render.id, now=ctx.now(), posting_since=None)
            return render, BUSY_RETRY
        except UploadTooLarge:
            return await self._refused_as_too_large(render)
        except MessageRefused as error:
            return await self._next_form(render, str(error))
        except PermissionMissing as error:
            return await self._blocked(render, error.reason, error)
        except ChannelGone:
            self._drop_clip(render.id)
            await ctx.renders.update(render.id, now=ctx.now(), chat_gone=True, posting_since=None)
            await ctx.publisher.notify_requester(render, url=render.video_url)
            return await self._delivered(render, None), timedelta(0)
        except PublishError as error:
            # Passing (5xx, network, a 429 discord.py gave up on): the post may have landed, so posting_since
            # stays and the next attempt looks for it first.
            return await self._blocked(render, "outage", error)
        self._drop_clip(render.id)
        return await self._delivered(render, message_id), timedelta(0)

    def _poster(self, render: RenderRecord, path: Path, fitted: Path, size: int | None) -> Post:
        """How this clip goes into the result message: re-encoded to fit, as downloaded, or as its link."""
        publisher, name = self._ctx.publisher, clip_filename(render)
        use_fitted = render.fallback is None and fitted.exists()

        async def post(group: Sequence[RenderRecord], into: int | None, removed: Collection[str]) -> int:
            if use_fitted:
                return await publisher.deliver_fitted(render, fitted, name, group=group, into=into, removed=removed)
            if render.fallback is None:
                return await publisher.deliver_file(render, path, name, group=group, into=into, removed=removed)
            return await publisher.deliver_link(render, render.video_url, size, group=group, into=into, removed=removed)

        return post

    async def _fit(self, render: RenderRecord, source: Path, fitted: Path) -> bool:
        """Re-encode the clip under the render's upload limit into `fitted`; False when it can't be done."""
        media = self._ctx.media
        if media is None:
            return False
        try:
            out = await media.fit(source, render.upload_limit)
        except MediaError as error:
            # Too long to fit at the quality floor, not a video FFmpeg can read, or past the time limit: the
            # link is the next best thing, as it was before re-encoding existed.
            log.info("render %s: clip not re-encoded under %d bytes (%s)", render.id, render.upload_limit, error)
            return False
        if out == source:
            return False  # only asked when it is over the limit: a clip that "fits" as it is was misjudged
        await asyncio.to_thread(shutil.move, out, fitted)
        log.info("render %s: clip re-encoded to fit the upload limit (%d bytes)", render.id, _size(fitted))
        return True

    async def _refused_as_too_large(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        """Discord answered 413: its limit is lower than the interaction said. Re-encode once under a lower one;
        a re-encoded file refused too (or no way to re-encode) goes on as a link."""
        ctx = self._ctx
        path, fitted = self.clip_path(render.id), self.fitted_path(render.id)
        if ctx.media is None or fitted.exists() or not path.exists():
            self._drop_clip(render.id)
            return await self._next_form(render, "too large for the channel")
        lower = min(_size(path) * 3 // 4, DISCORD_BASE_UPLOAD)
        log.info("render %s: Discord refused the clip as too large; re-encoding under %d bytes", render.id, lower)
        await ctx.renders.update(render.id, now=ctx.now(), upload_limit=lower, posting_since=None)
        return await ctx.reload(render), timedelta(0)

    async def _download_failed(self, render: RenderRecord, error: VideoApiError) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        attempts = render.attempts + 1
        if render.video_url is None and (attempts >= MAX_DOWNLOAD_ATTEMPTS or not is_retryable(error, create=False)):
            # The gateway's /content was the only way to the clip (Veo): it said done but has nothing to give
            # (a clip filtered after the fact), so there is no link to fall back to. Nothing was delivered.
            log.warning("render %s: the gateway has no video for task %s (%s)", render.id, render.task_id, error)
            return await ctx.fail(render, FailureKind.NO_VIDEO, None), timedelta(0)
        if attempts >= MAX_DOWNLOAD_ATTEMPTS:
            log.warning("render %s: clip download keeps failing (%s); linking it", render.id, error)
            return await self._next_form(render, "download keeps failing")
        await ctx.renders.update(render.id, now=ctx.now(), attempts=attempts)
        log.warning("render %s: clip download failed (%s); retrying", render.id, type(error).__name__)
        return render, timedelta(seconds=retry_delay(attempts, ctx.config.poll_interval))

    async def _next_form(self, render: RenderRecord, why: str) -> tuple[RenderRecord, timedelta]:
        """Discord will never take the clip as it was offered: offer it in the next form, right away."""
        ctx = self._ctx
        form = NEXT_FORM.get(render.fallback, DIRECT_MESSAGE)
        if render.fallback is not None:
            DISCORD_GIVE_UPS.labels(kind="refused").inc()
        log.info("render %s: clip not accepted as %s (%s); trying %s", render.id, render.fallback or "file", why, form)
        self._drop_clip(render.id)
        await ctx.renders.update(render.id, now=ctx.now(), fallback=form, posting_since=None, attempts=0)
        return await ctx.reload(render), timedelta(0)

    async def _deliver_by_dm(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        if render.video_url and await ctx.publisher.notify_requester(render, url=render.video_url):
            return await self._delivered(render, None), timedelta(0)
        DISCORD_GIVE_UPS.labels(kind="refused").inc()
        log.warning("render %s: Discord refused the clip as a file, a link and a DM; refunding", render.id)
        return await ctx.fail(render, FailureKind.DELIVERY_REFUSED, None), timedelta(0)

    async def _blocked(self, render: RenderRecord, reason: str, error: PublishError) -> tuple[RenderRecord, timedelta]:
        """Discord refuses for now (a permission, or an outage): keep the clip, keep trying until the wait ends."""
        ctx = self._ctx
        now = ctx.now()
        until = render.chat_blocked_until or now + timedelta(seconds=ctx.config.delivery_wait)
        attempts = render.attempts + 1
        fields: dict[str, object] = {"chat_blocked_until": until, "chat_blocked_reason": reason, "attempts": attempts}
        waiting_for_person = isinstance(error, PermissionMissing)
        if waiting_for_person:
            fields["posting_since"] = None  # refused outright: nothing was posted
        self._keep_within_budget(render.id)
        if waiting_for_person and not render.requester_told:
            # Once: the requester learns why the clip is late, and that a moderator can fix it.
            await ctx.publisher.notify_waiting(render, until=until)
            fields["requester_told"] = True
        await ctx.renders.update(render.id, now=now, **fields)
        DISCORD_RETRIES.labels(kind="permission" if waiting_for_person else "transient").inc()
        if waiting_for_person:
            # At least a dozen tries within the wait, however short an operator made it.
            wait = min(PERMISSION_RETRY, timedelta(seconds=ctx.config.delivery_wait / 12))
        else:
            wait = timedelta(seconds=retry_delay(attempts, ctx.config.poll_interval))
        log.warning(
            "render %s: clip not posted (%s: %s); trying again in %.0f s, until %s",
            render.id,
            reason,
            error,
            wait.total_seconds(),
            until.isoformat(timespec="minutes"),
        )
        return await ctx.reload(render), wait

    async def _give_up_blocked(self, render: RenderRecord) -> tuple[RenderRecord, timedelta]:
        ctx = self._ctx
        DISCORD_GIVE_UPS.labels(kind=render.chat_blocked_reason or "outage").inc()
        self._drop_clip(render.id)
        hours = ctx.config.delivery_wait / 3600
        detail = f"{hours:g} hour{'s' if hours != 1 else ''}" if hours >= 1 else f"{ctx.config.delivery_wait:g} s"
        log.warning("render %s: Discord refused the clip until the end of the wait; refunding", render.id)
        failed = await ctx.fail(render, FailureKind.DELIVERY_BLOCKED, detail)
        await ctx.publisher.notify_requester(failed, url=None)
        return failed, timedelta(0)

    def _keep_within_budget(self, render_id: str) -> None:
        """Keep this clip for the next attempt only while all kept clips fit the disk budget; past it, the next
        attempt downloads it again (rare: it takes many clips blocked at once)."""
        if not self.clip_path(render_id).exists() and not self.fitted_path(render_id).exists():
            return
        kept = sum(p.stat().st_size for p in self._clips.glob("*.mp4"))
        if kept > self._ctx.config.kept_clips_bytes:
            log.warning("kept clips exceed their disk budget; render %s will download its clip again", render_id)
            self._drop_clip(render_id)

    async def _delivered(self, render: RenderRecord, message_id: int | None) -> RenderRecord:
        ctx = self._ctx
        moved = await ctx.renders.move(
            render.id,
            RenderState.DELIVERED,
            now=ctx.now(),
            result_message_id=message_id,
            posting_since=None,
            chat_blocked_until=None,
            chat_blocked_reason=None,
            attempts=0,
        )
        log.info("render %s delivered (message %s)", render.id, message_id)
        return moved or await ctx.reload(render)
