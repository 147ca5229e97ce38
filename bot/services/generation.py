"""Accepting a request: quota decision and reservation, storage, the status message, then the tracker's turn."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.cost import request_cost
from bot.domain.images import CheckedImage
from bot.domain.models import ModelSpec, ModelTable
from bot.domain.quota import crossed_thresholds, decide
from bot.domain.quota_types import Decision, GuildRules, Requester, UsageSnapshot
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import RenderState
from bot.domain.validation import MAX_SEED, ModelChoice, with_take_seeds
from bot.services.ports import PublishError, StatusPublisher
from bot.services.tracker import utc_now, visible_state
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)

STATUS_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Accepted:
    renders: list[RenderRecord]
    decision: Decision

    @property
    def held_for_approval(self) -> bool:
        return self.decision.needs_approval


@dataclass(frozen=True)
class Refused:
    decision: Decision


class GenerationService:
    def __init__(
        self,
        *,
        renders: RenderRepository,
        images: ImageStore,
        config: GuildConfigRepository,
        alerts: AlertRepository,
        publisher: StatusPublisher,
        models: ModelTable,
        default_model: str,
        wake_tracker: Callable[[], None],
        holds: ModelHolds | None = None,
        now: Callable[[], datetime] = utc_now,
        draw_seed: Callable[[], int] = lambda: random.randint(0, MAX_SEED),
    ) -> None:
        self._renders = renders
        self._images = images
        self._config = config
        self._alerts = alerts
        self._publisher = publisher
        self._models = models
        self._default_model = default_model
        self._holds = holds
        self._draw_seed = draw_seed
        self._wake_tracker = wake_tracker
        self._now = now

    def _decide(
        self, rules: GuildRules, requester: Requester, request: VideoRequest, channel_id: int, usage: UsageSnapshot
    ) -> Decision:
        return decide(
            rules=rules,
            requester=requester,
            usage=usage,
            request=request,
            channel_id=channel_id,
            cost=request_cost(request, self.model(request).cost),
            now=self._now(),
        )

    def model(self, request: VideoRequest) -> ModelSpec:
        """The table entry of the request's model (validation only lets known models through)."""
        spec = self._models.get(request.model)
        if spec is None:
            raise ValueError(f"unknown model {request.model!r}")
        return spec

    async def model_choice(self, guild_id: int) -> ModelChoice:
        """The models a member of this server may pick now, and the server's default."""
        rules = await self._config.rules(guild_id)
        unavailable = {key: "it is turned off in this server" for key in rules.disabled_models}
        if self._holds is not None:
            for key, until in (await self._holds.active(self._now())).items():
                unavailable.setdefault(
                    key, f"ModelStream can't run it at the moment (back <t:{int(until.timestamp())}:R>)"
                )
        default = self._default_model
        spec = self._models.get(rules.default_model) if rules.default_model is not None else None
        if spec is not None and spec.enabled:
            # Only a model the table still offers: otherwise the bot's default applies.
            default = spec.key
        return ModelChoice(self._models, default, unavailable)

    def fresh_seed(self, request: VideoRequest) -> VideoRequest:
        """The same request with a newly drawn seed when its model takes one (Regenerate)."""
        model = self._models.get(request.model)
        # A model gone from the table is left as it is: submitting it then says the model is no longer offered.
        spec = model.mode(request.generation_mode) if model is not None else None
        if spec is None or not spec.seed:
            return request
        return request.with_seed(self._draw_seed())

    async def preview(self, *, guild_id: int, channel_id: int, requester: Requester, request: VideoRequest) -> Decision:
        """The decision as things stand, without reserving: refuses early, before any image is downloaded."""
        rules = await self._config.rules(guild_id)
        usage = await self._renders.member_snapshot(guild_id, requester.user_id, self._now())
        return self._decide(rules, requester, request, channel_id, usage)

    async def accept(
        self,
        *,
        guild_id: int,
        channel_id: int,
        requester: Requester,
        request: VideoRequest,
        images: Sequence[CheckedImage],
        upload_limit: int,
    ) -> Accepted | Refused:
        """Reserve credits and store the request atomically; from here on nothing may lose it."""
        rules = await self._config.rules(guild_id)
        for image in images:
            # Stored before the reservation: the tracker must find them even if we crash right after it.
            await self._images.put(image.sha256, image.data, image.mime)
        take_cost = request_cost(request, self.model(request).cost) // max(1, request.takes)
        # ACCEPTED unless the decision holds it: reserve() turns the takes to AWAITING_APPROVAL then, so the
        # quota policy alone says who waits (exempt members never do). Each take gets its own seed.
        new = [
            NewRender(guild_id, channel_id, requester.user_id, take, take_cost, upload_limit, RenderState.ACCEPTED)
            for take in with_take_seeds(request, self.model(request), self._draw_seed)
        ]
        now = self._now()
        seen: list[UsageSnapshot] = []

        def decide_and_remember(usage: UsageSnapshot) -> Decision:
            # Read under the guild lock: the spend before this request, exact even with concurrent requests.
            seen.append(usage)
            return self._decide(rules, requester, request, channel_id, usage)

        decision, renders = await self._renders.reserve(
            new,
            decide_and_remember,
            now=now,
            # The tracker keeps its hands off until the status message below is posted (else both might post
            # one); if we crash first, it takes over after this grace.
            first_look_at=now + STATUS_GRACE,
        )
        if not decision.accepted:
            return Refused(decision)
        log.info(
            "accepted %d render(s) for user %s in guild %s channel %s (cost %d%s)",
            len(renders),
            requester.user_id,
            guild_id,
            channel_id,
            decision.cost,
            ", held for approval" if decision.needs_approval else "",
        )
        try:
            renders = [await self._post_status(render) for render in renders]
            if (await self._config.channel_defaults(guild_id, channel_id)).thread_per_request:
                renders = [await self._open_thread(render) for render in renders]
            if decision.needs_approval:
                renders = await self._ask_moderators(renders, rules.moderator_channel_id or channel_id)
            await self._check_spend_alerts(guild_id, rules, seen[-1], decision.cost)
        except Exception:
            # The request is stored and charged: whatever failed here, the tracker finishes the job (status
            # message, moderators), so the member must hear "accepted", never "try again".
            log.exception("group %s: follow-up after accepting failed; the tracker takes over", renders[0].group_id)
        finally:
            self._wake_tracker()
        return Accepted(renders, decision)

    async def _post_status(self, render: RenderRecord) -> RenderRecord:
        # If this fails the tracker posts it on its first look; the request itself is already safe.
        try:
            message_id = await self._publisher.post_status(render)
        except PublishError as error:
            log.warning("render %s: status message not posted yet (%s)", render.id, error)
            await self._renders.update(render.id, now=self._now(), next_poll_at=self._now())
            return render
        # shown_hash too: the tracker then edits this message only once what it shows has changed.
        first = await self._renders.set_first_status_message(
            render.id, message_id, now=self._now(), shown_hash=visible_state(render), next_poll_at=self._now()
        )
        if not first:
            # Posting took so long that the tracker posted one meanwhile: one status message per render.
            await self._publisher.delete_message(render.channel_id, message_id)
        return await self._renders.get(render.id) or render

    async def _open_thread(self, render: RenderRecord) -> RenderRecord:
        # A thread is a convenience for the team: without one (no permission, Discord hiccup) the render goes on.
        if render.status_message_id is None:
            return render
        try:
            thread_id = await self._publisher.open_thread(render)
        except PublishError as error:
            log.warning("render %s: no thread opened (%s)", render.id, error)
            return render
        await self._renders.update(render.id, now=self._now(), thread_id=thread_id)
        return await self._renders.get(render.id) or render

    async def _ask_moderators(self, renders: list[RenderRecord], channel_id: int) -> list[RenderRecord]:
        try:
            message_id = await self._publisher.post_approval_request(renders, channel_id)
        except PublishError as error:
            log.warning("approval request for group %s not posted (%s)", renders[0].group_id, error)
            return renders
        for render in renders:
            await self._renders.update(render.id, now=self._now(), approval_message_id=message_id)
        return [await self._renders.get(render.id) or render for render in renders]

    async def _check_spend_alerts(self, guild_id: int, rules: GuildRules, before: UsageSnapshot, cost: int) -> None:
        if rules.daily_budget is None and rules.monthly_budget is None:
            return
        now = self._now()
        periods = (
            ("day", f"day:{now:%Y-%m-%d}", before.guild_used_today + cost, rules.daily_budget),
            ("month", f"month:{now:%Y-%m}", before.guild_used_month + cost, rules.monthly_budget),
        )
        for period, key, spent, budget in periods:
            for percent in crossed_thresholds(spent - cost, spent, budget):
                if budget is None or not await self._alerts.claim(guild_id, key, percent):
                    continue
                channel = rules.moderator_channel_id
                if channel is None:
                    log.warning(
                        "guild %s crossed %d%% of its %s budget; no moderator channel set", guild_id, percent, period
                    )
                    continue
                try:
                    await self._publisher.post_spend_alert(
                        channel, guild_id=guild_id, period=period, percent=percent, spent=spent, budget=budget
                    )
                except PublishError as error:
                    log.warning("spend alert for guild %s not posted (%s)", guild_id, error)
