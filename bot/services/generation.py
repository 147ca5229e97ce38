"""Accepting a request: quota decision and reservation, storage, the status message, then the tracker's turn."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import utc_now
from bot.domain.chain import ChainLink
from bot.domain.cost import request_cost, take_cost
from bot.domain.images import CheckedImage
from bot.domain.models import ModelSpec, ModelTable
from bot.domain.quota import crossed_thresholds, decide
from bot.domain.quota_types import Decision, GuildRules, Requester, UsageSnapshot
from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.domain.validation import MAX_SEED, ModelChoice, with_take_seeds
from bot.services.cards import visible_state
from bot.services.ports import PublishError, StatusPublisher
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.groups import GroupRepository
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


class InputsGone(Exception):
    """A request reusing stored images (Regenerate, Remix) whose images are no longer kept; nothing was reserved."""


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
        self,
        rules: GuildRules,
        requester: Requester,
        request: VideoRequest,
        channel_id: int,
        usage: UsageSnapshot,
        cost: int | None = None,
    ) -> Decision:
        return decide(
            rules=rules,
            requester=requester,
            usage=usage,
            request=request,
            channel_id=channel_id,
            cost=request_cost(request, self.model(request).cost) if cost is None else cost,
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

    async def preview(
        self,
        *,
        guild_id: int,
        channel_id: int,
        requester: Requester,
        request: VideoRequest,
        members: Sequence[VideoRequest] = (),
    ) -> Decision:
        """The decision as things stand, without reserving: refuses early, before any image is downloaded.
        `members`: the requests of a compare, as `accept` takes them."""
        rules = await self._config.rules(guild_id)
        usage = await self._renders.member_snapshot(guild_id, requester.user_id, self._now())
        cost = sum(each for _, each in self._members(request, members, draw=False)) if members else None
        return self._decide(rules, requester, request, channel_id, usage, cost)

    def _members(
        self, request: VideoRequest, members: Sequence[VideoRequest], *, draw: bool = True
    ) -> list[tuple[VideoRequest, int]]:
        """The renders of a request, each with its cost: its takes (each with its own seed), or for a compare one
        render per model, each at its own model's rates."""
        if not members:
            cost = take_cost(request, self.model(request).cost)
            if not draw:
                return [(request, cost)] * request.takes
            return [(take, cost) for take in with_take_seeds(request, self.model(request), self._draw_seed)]
        chosen = []
        for member in members:
            spec = self.model(member)
            seeded = with_take_seeds(member, spec, self._draw_seed)[0] if draw else member
            chosen.append((seeded, request_cost(member, spec.cost)))
        return chosen

    async def accept(
        self,
        *,
        guild_id: int,
        channel_id: int,
        requester: Requester,
        request: VideoRequest,
        images: Sequence[CheckedImage],
        upload_limit: int,
        chain: ChainLink | None = None,
        members: Sequence[VideoRequest] = (),
    ) -> Accepted | Refused:
        """Reserve credits and store the request atomically; from here on nothing may lose it.

        `images` are the request's new images (checked, without metadata); they are stored only once the
        reservation holds, so a refused request leaves nothing behind. Images of the request not among them must
        be stored already (Regenerate and Remix reuse them): when the retention purge removed them, `InputsGone`
        is raised before anything is reserved. `chain` (Continue) records the clip this request continues; the
        first clip of a chain gets position 1 once a continuation of it is accepted.

        `members` (`/video compare`): one render per request, each with its own model, seed and cost, reserved
        together as one group; `request` stands for them in the quota decision (`takes`: how many there are).
        """
        rules = await self._config.rules(guild_id)
        new_images = {image.sha256 for image in images}
        reused = [slot.sha256 for slot in request.images if slot.sha256 not in new_images]
        if reused and await self._images.claim(reused, now=self._now()):
            # Claiming them also keeps the purge off them until the reservation below has recorded who uses them.
            raise InputsGone()
        # ACCEPTED unless the decision holds it: reserve() turns the takes to AWAITING_APPROVAL then, so the
        # quota policy alone says who waits (exempt members never do). Each take gets its own seed.
        takes = self._members(request, members)
        total = sum(cost for _, cost in takes)
        new = [
            NewRender(
                guild_id,
                channel_id,
                requester.user_id,
                take,
                cost,
                upload_limit,
                RenderState.ACCEPTED,
                parent_id=chain.parent_id if chain else None,
                chain_position=chain.position if chain else None,
            )
            for take, cost in takes
        ]
        now = self._now()
        seen: list[UsageSnapshot] = []

        def decide_and_remember(usage: UsageSnapshot) -> Decision:
            # Read under the guild lock: the spend before this request, exact even with concurrent requests.
            seen.append(usage)
            return self._decide(rules, requester, request, channel_id, usage, total)

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
        # Right after the reservation, before anything else: the tracker looks for them only after STATUS_GRACE.
        # Should the bot stop in between, the tracker finds them missing and refunds the render visibly.
        for image in images:
            await self._images.put(image.sha256, image.data, image.mime, now=now)
        if chain is not None and chain.position == 2:
            await self._renders.update(chain.parent_id, now=now, chain_position=1)
        renders = await self._unless_stopped_meanwhile(guild_id, requester.user_id, renders)
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
            renders = await self._post_card(renders)
            if (await self._config.channel_defaults(guild_id, channel_id)).thread_per_request:
                renders = await self._open_thread(renders)
            if decision.needs_approval and all(r.state is RenderState.AWAITING_APPROVAL for r in renders):
                renders = await self._ask_moderators(renders, rules.moderator_channel_id or channel_id)
            await self._check_spend_alerts(guild_id, rules, seen[-1], decision.cost)
        except Exception:
            # The request is stored and charged: whatever failed here, the tracker finishes the job (status
            # message, moderators), so the member must hear "accepted", never "try again".
            log.exception("group %s: follow-up after accepting failed; the tracker takes over", renders[0].group_id)
        finally:
            self._wake_tracker()
        return Accepted(renders, decision)

    async def _unless_stopped_meanwhile(
        self, guild_id: int, user_id: int, renders: list[RenderRecord]
    ) -> list[RenderRecord]:
        """The renders, refunded if a pause or a ban was written while this request was decided on older rules.

        A pause (or ban) refunds what is reserved when it is written; a request reserved after that but decided
        before it would slip through. Reading the rules again after the reservation closes the gap: one of the two
        always sees the other.
        """
        rules = await self._config.rules(guild_id)
        if not rules.paused and user_id not in rules.banned_user_ids:
            return renders
        kind = FailureKind.PAUSED if rules.paused else FailureKind.BANNED
        refunded = await self._renders.refund_unsent(guild_id, kind, now=self._now(), user_id=user_id)
        log.warning("group %s: %s while it was being accepted; refunded", renders[0].group_id, kind.value)
        by_id = {render.id: render for render in refunded}
        return [by_id.get(render.id, render) for render in renders]

    async def _post_card(self, renders: list[RenderRecord]) -> list[RenderRecord]:
        """One status card for the whole request (every take, or every model of a compare)."""
        first = renders[0]
        now = self._now()
        # If this fails the tracker posts it on its first look; the request itself is already safe.
        try:
            message_id = await self._publisher.post_status(first, renders)
        except PublishError as error:
            log.warning("group %s: status card not posted yet (%s)", first.group_id, error)
            for render in renders:
                await self._renders.update(render.id, now=now, next_poll_at=now)
            return renders
        # What it shows of each take too: the tracker then edits it only once that changed.
        shown = {render.id: visible_state(render) for render in renders}
        groups = GroupRepository(self._renders.database)
        if not await groups.set_first_card(first.group_id, message_id, now=self._now(), shown=shown, next_poll_at=now):
            # Posting took so long that the tracker posted one meanwhile: one card per request.
            await self._publisher.delete_message(first.channel_id, message_id)
        return await self._renders.list_group(first.group_id) or renders

    async def _open_thread(self, renders: list[RenderRecord]) -> list[RenderRecord]:
        """A discussion thread on the request's card. A convenience for the team: without one (no permission, a
        Discord hiccup) the renders go on."""
        first = renders[0]
        if first.status_message_id is None:
            return renders
        try:
            thread_id = await self._publisher.open_thread(first)
        except PublishError as error:
            log.warning("group %s: no thread opened (%s)", first.group_id, error)
            return renders
        await GroupRepository(self._renders.database).set_thread(first.group_id, thread_id, now=self._now())
        return await self._renders.list_group(first.group_id) or renders

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
