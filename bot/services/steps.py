"""What every part of a tracker step shares: its settings, the services it talks to, and how a render ends.

The tracker (scheduling and leases) hands one `StepContext` to the lifecycle (submit, poll, approvals), the
delivery and the status cards; each of those is a module of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.states import FailureKind, RenderState
from bot.services.estimates import Estimates
from bot.services.ports import StatusPublisher
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import LeasedRenders
from bot.videoapi.client import VideoApiClient

if TYPE_CHECKING:
    from bot.media import VideoWorker

log = logging.getLogger("bot.services.tracker")


@dataclass(frozen=True)
class TrackerConfig:
    owner: str  # unique per process: leases carry it, and a restart of the same process reclaims its own
    work_dir: Path  # clips are streamed here before upload, and kept until they are posted
    poll_interval: float = 10.0
    render_timeout: float = 3600.0  # seconds the API may be seen working on a render
    submit_deadline: float = 3600.0  # seconds a render may wait to be taken by the API (outages, rate limits)
    delivery_wait: float = 86400.0  # seconds a finished clip waits for Discord (a permission, an outage)
    kept_clips_bytes: int = 2 * 1024**3  # disk for clips kept between delivery attempts
    api_timeout: float = 30.0  # a create in flight at shutdown is waited for this long (and a little more)
    max_concurrent: int = 20  # status polls at once: at the API, or next in line for the status-call cap
    max_concurrent_work: int = 10  # submits and deliveries at once: a lane that polls never fill (card edits run apart)
    status_calls_per_second: float = 5.0
    status_call_burst: int = 0  # extra status calls allowed within one second
    max_clip_bytes: int = 500 * 1024 * 1024
    model_hold_seconds: float = 1800.0  # how long a model the gateway can't serve is kept off
    lease_seconds: float = 300.0
    idle_wait: float = 1.0  # longest nap between two looks at the database
    max_renders_at_api: int | None = None  # renders sent to the API at once by every process together (None: no cap)
    claim_batch: int = 200


@dataclass(frozen=True)
class StepContext:
    renders: LeasedRenders  # every write of a step is refused once its lease is lost
    images: ImageStore
    api: VideoApiClient
    publisher: StatusPublisher
    config: TrackerConfig
    models: ModelTable
    clock: Clock
    holds: ModelHolds | None = None
    guild_config: GuildConfigRepository | None = None  # for the moderator channel of held requests
    estimates: Estimates | None = None  # measured render times: when to ask about a render, what the card says
    media: VideoWorker | None = None  # re-encodes a clip over the upload limit to fit (None: such clips are linked)

    def now(self) -> datetime:
        return self.clock.now()

    async def reload(self, render: RenderRecord) -> RenderRecord:
        fresh = await self.renders.get(render.id)
        return fresh if fresh is not None else render

    async def fail(self, render: RenderRecord, kind: FailureKind, detail: str | None) -> RenderRecord:
        """End `render` as failed (its credits go back); the requester hears of it by DM if its channel is gone."""
        now = self.now()
        moved = await self.renders.move(
            render.id, RenderState.FAILED, now=now, failure_kind=kind, failure_detail=detail, finished_at=now
        )
        log.info("render %s failed (%s): credits refunded", render.id, kind.value)
        if moved is not None and render.chat_gone:
            await self.publisher.notify_requester(moved, url=None)
        return moved or await self.reload(render)
