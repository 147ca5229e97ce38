"""The moderators' use cases behind `/videoadmin`: read and change a guild's rules, and see where credits went.

Every change goes through `GuildConfigRepository`, which writes the audit row in the same transaction, and comes
back as `Change`s (setting, before, after) so the reply can say exactly what changed. Values a moderator can type
in a crafted interaction are checked here again, whatever Discord's option limits promised.

Conventions of the update methods: an argument left as None means "leave as it is"; for the optional limits
(budgets, renders in flight, approval thresholds) 0 means "none".

Setting keys, labels and how values are stored and shown come from `bot.domain.settings_catalog.SETTINGS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

from bot.clock import utc_now
from bot.domain.errors import RequestValidationError
from bot.domain.models import ModelSpec, ModelTable
from bot.domain.quota import as_utc, is_exempt, member_daily_limit, next_reset
from bot.domain.quota_types import ApprovalRules, GuildRules, Requester
from bot.domain.render import RenderRecord
from bot.domain.request import AspectRatio, ChannelDefaults, QualityMode
from bot.domain.settings_catalog import SETTINGS, Scope
from bot.domain.states import FailureKind
from bot.domain.validation import MAX_DURATION, MAX_NEGATIVE_PROMPT_CHARS, MIN_DURATION
from bot.storage.config import AuditEntry, GuildConfigRepository
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)

E = TypeVar("E", bound=StrEnum)

Unlimited = Literal["unlimited"]
UNLIMITED: Unlimited = "unlimited"
MAX_CREDITS = 1_000_000  # a typo guard, far above any real daily allowance or budget
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600
MAX_IN_FLIGHT = 100
MAX_NEW_MEMBER_DAYS = 365
USAGE_PERIODS = (7, 30)


@dataclass(frozen=True)
class Change:
    """One setting a command touched: its key (see `bot.domain.settings_catalog.SETTINGS`), before and after."""

    setting: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return bool(self.before != self.after)


class QuotaSource(StrEnum):
    """Where a member's daily credits come from (the first that applies, as `decide` reads them)."""

    EXEMPT = "exempt"
    MEMBER = "member"
    ROLE = "role"
    DEFAULT = "default"


@dataclass(frozen=True)
class Stopped:
    """What a pause or a ban did: the setting's change, and the renders not yet sent to the API it refunded."""

    change: Change
    refunded: list[RenderRecord]

    @property
    def refunded_credits(self) -> int:
        return sum(render.cost for render in self.refunded)


@dataclass(frozen=True)
class MemberQuota:
    """A member's day as the quota policy sees it right now."""

    user_id: int
    limit: int | None  # daily credits before grants; None = unlimited
    source: QuotaSource
    source_role_id: int | None  # the role whose override applies (source ROLE)
    used_today: int
    granted_today: int
    in_flight: int
    banned: bool
    resets_at: datetime

    @property
    def left(self) -> int | None:
        """Credits left today; None = unlimited."""
        if self.limit is None:
            return None
        return max(0, self.limit + self.granted_today - self.used_today)


@dataclass(frozen=True)
class RoleQuota:
    role_id: int
    override: int | None  # the role's own daily credits; None = members fall back to the default
    default: int | None  # the server default (None = unlimited)
    exempt: bool


@dataclass(frozen=True)
class ServerOverview:
    rules: GuildRules
    spent_today: int
    spent_month: int


@dataclass(frozen=True)
class MemberUsage:
    user_id: int
    credits: int
    renders: int


@dataclass(frozen=True)
class DayUsage:
    day: date
    credits: int
    renders: int


@dataclass(frozen=True)
class UsageReport:
    """Credits kept (spent or held; refunds excluded) over the last `days` UTC days, today included."""

    days: int
    by_member: list[MemberUsage]  # biggest spender first
    by_day: list[DayUsage]  # every day of the period, oldest first, idle days as 0

    @property
    def total_credits(self) -> int:
        return sum(day.credits for day in self.by_day)

    @property
    def total_renders(self) -> int:
        return sum(day.renders for day in self.by_day)


@dataclass(frozen=True)
class ModelState:
    """One model the bot offers, as this server has it."""

    spec: ModelSpec
    on: bool  # members of this server may pick it
    default: bool  # the server's default model


@dataclass(frozen=True)
class ServerModels:
    """The models of a server: each one the bot offers (table order), and the default."""

    models: list[ModelState]
    default: str  # the key used when a member picks none (and the channel has no default model)
    default_inherited: bool  # the server chose none: the bot's DEFAULT_MODEL
    default_offered: bool  # False when the default is no longer in the bot's table (the operator removed it)
    # Channels whose own default model can't be used here (turned off): members there get the server's default.
    stranded_channels: dict[int, str]


def parse_credits(option: str, raw: str) -> int | Unlimited:
    """A credits value as a moderator types it: a whole number, or `unlimited` (also `none`, `off`)."""
    value = raw.strip().lower().replace(",", "").replace("_", "")
    if value in ("unlimited", "none", "off", "∞"):
        return UNLIMITED
    if value.isdigit():
        return _in_range(option, int(value), 0, MAX_CREDITS)
    raise RequestValidationError(option, f"`{option}` must be a whole number of credits (0 or more) or `unlimited`.")


def _in_range(option: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise RequestValidationError(option, f"`{option}` must be between {low} and {high}; you gave {value}.")
    return value


def _zero_is_none(option: str, value: int | None, current: int | None, high: int) -> int | None:
    """A limit where 0 means "none": None keeps `current`."""
    if value is None:
        return current
    return _in_range(option, value, 0, high) or None


class AdminService:
    def __init__(
        self,
        *,
        config: GuildConfigRepository,
        renders: RenderRepository,
        models: ModelTable,
        default_model: str,
        now: Callable[[], datetime] = utc_now,
        wake_tracker: Callable[[], None] = lambda: None,
    ) -> None:
        """`models` is the bot's table and `default_model` its DEFAULT_MODEL; `wake_tracker` has renders a pause or
        a ban refunded shown at once."""
        self._config = config
        self._renders = renders
        self._models = models
        self._default_model = default_model
        self._now = now
        self._wake_tracker = wake_tracker

    # ---- quotas ------------------------------------------------------------------------------------------

    async def set_member_quota(self, guild_id: int, user_id: int, daily: int | None, *, actor_id: int) -> Change:
        """Give a member their own daily credits; None removes the override (back to their roles or default)."""
        if daily is not None:
            _in_range("daily_credits", daily, 0, MAX_CREDITS)
        before = (await self._config.rules(guild_id)).member_daily_credits.get(user_id)
        if before != daily:
            await self._config.set_member_limit(guild_id, user_id, daily, actor_id=actor_id)
        log.info("guild %s: member %s daily credits %s -> %s by %s", guild_id, user_id, before, daily, actor_id)
        return Change("member_daily_credits", before, daily)

    async def set_role_quota(self, guild_id: int, role_id: int, daily: int | None, *, actor_id: int) -> Change:
        """Set the daily credits of a role's members (the most generous role wins); None removes it."""
        if daily is not None:
            _in_range("daily_credits", daily, 0, MAX_CREDITS)
        before = (await self._config.rules(guild_id)).role_daily_credits.get(role_id)
        if before != daily:
            await self._config.set_role_limit(guild_id, role_id, daily, actor_id=actor_id)
        log.info("guild %s: role %s daily credits %s -> %s by %s", guild_id, role_id, before, daily, actor_id)
        return Change("role_daily_credits", before, daily)

    async def member_quota(self, guild_id: int, member: Requester) -> MemberQuota:
        rules = await self._config.rules(guild_id)
        now = self._now()
        usage = await self._renders.member_snapshot(guild_id, member.user_id, now)
        source, role_id = _quota_source(rules, member)
        return MemberQuota(
            user_id=member.user_id,
            limit=None if source is QuotaSource.EXEMPT else member_daily_limit(rules, member),
            source=source,
            source_role_id=role_id,
            used_today=usage.member_used_today,
            granted_today=usage.member_granted_today,
            in_flight=usage.member_in_flight,
            banned=member.user_id in rules.banned_user_ids,
            resets_at=next_reset(now),
        )

    async def role_quota(self, guild_id: int, role_id: int) -> RoleQuota:
        rules = await self._config.rules(guild_id)
        return RoleQuota(
            role_id=role_id,
            override=rules.role_daily_credits.get(role_id),
            default=rules.default_daily_credits,
            exempt=role_id in rules.exempt_role_ids,
        )

    async def overview(self, guild_id: int) -> ServerOverview:
        """The server's rules as they apply now, with what it spent today and this month."""
        rules = await self._config.rules(guild_id)
        today, month = await self._renders.guild_spend(guild_id, self._now())
        return ServerOverview(rules, today, month)

    async def grant(
        self, guild_id: int, member: Requester, credits: int, *, actor_id: int
    ) -> tuple[MemberQuota, MemberQuota]:
        """Extra credits for today (UTC) only; returns the member's day before and after."""
        _in_range("credits", credits, 1, MAX_CREDITS)
        before = await self.member_quota(guild_id, member)
        await self._config.grant(guild_id, member.user_id, credits, self._now().date(), actor_id=actor_id)
        log.info("guild %s: %d credits granted to %s by %s", guild_id, credits, member.user_id, actor_id)
        return before, await self.member_quota(guild_id, member)

    async def reset(self, guild_id: int, member: Requester, *, actor_id: int) -> tuple[MemberQuota, MemberQuota]:
        """Give a member their whole daily allowance back for today; returns their day before and after."""
        before = await self.member_quota(guild_id, member)
        await self._config.reset_member(guild_id, member.user_id, self._now(), actor_id=actor_id)
        log.info("guild %s: member %s reset by %s", guild_id, member.user_id, actor_id)
        return before, await self.member_quota(guild_id, member)

    # ---- server-wide limits ------------------------------------------------------------------------------

    async def set_budget(
        self, guild_id: int, *, daily: int | None = None, monthly: int | None = None, actor_id: int
    ) -> list[Change]:
        """The server's credits per UTC day and per calendar month (0 = no budget, None = unchanged)."""
        rules = await self._config.rules(guild_id)
        new_daily = _zero_is_none("daily", daily, rules.daily_budget, MAX_CREDITS)
        new_monthly = _zero_is_none("monthly", monthly, rules.monthly_budget, MAX_CREDITS)
        changes = [
            Change("daily_budget", rules.daily_budget, new_daily),
            Change("monthly_budget", rules.monthly_budget, new_monthly),
        ]
        if any(c.changed for c in changes):
            await self._config.set_budget(guild_id, new_daily, new_monthly, actor_id=actor_id)
        return changes

    async def set_limits(
        self,
        guild_id: int,
        *,
        max_in_flight: int | None = None,
        cooldown_seconds: int | None = None,
        default_daily_credits: int | Unlimited | None = None,
        actor_id: int,
    ) -> list[Change]:
        """Renders in flight per member (0 = no cap), cooldown between requests (0 = none), default daily credits."""
        rules = await self._config.rules(guild_id)
        changes: list[Change] = []
        if default_daily_credits is not None:
            daily = (
                None
                if default_daily_credits == UNLIMITED
                else _in_range("default_daily_credits", int(default_daily_credits), 0, MAX_CREDITS)
            )
            changes.append(Change("default_daily_credits", rules.default_daily_credits, daily))
            if changes[-1].changed:
                await self._config.set_default_daily_credits(guild_id, daily, actor_id=actor_id)
        if max_in_flight is not None or cooldown_seconds is not None:
            in_flight = _zero_is_none("max_in_flight", max_in_flight, rules.max_in_flight_per_member, MAX_IN_FLIGHT)
            cooldown = (
                rules.cooldown_seconds
                if cooldown_seconds is None
                else _in_range("cooldown_seconds", cooldown_seconds, 0, MAX_COOLDOWN_SECONDS)
            )
            pacing = [
                Change("max_in_flight_per_member", rules.max_in_flight_per_member, in_flight),
                Change("cooldown_seconds", rules.cooldown_seconds, cooldown),
            ]
            changed = {c.setting: c.after for c in pacing if c.changed}
            if changed:
                await self._config.update_limits(guild_id, actor_id=actor_id, **changed)
            changes.extend(pacing)
        return changes

    async def set_exempt(self, guild_id: int, role_id: int, exempt: bool, *, actor_id: int) -> Change:
        """Add a role to (or remove it from) the roles exempt from member limits and approval."""
        rules = await self._config.rules(guild_id)
        before = rules.exempt_role_ids
        after = before | {role_id} if exempt else before - {role_id}
        if after != before:
            await self._config.update_limits(guild_id, actor_id=actor_id, exempt_role_ids=after)
        return Change("exempt_role_ids", before, after)

    async def ban(self, guild_id: int, user_id: int, reason: str | None, *, actor_id: int) -> Stopped:
        """Ban a member from generating here; their renders not sent to the API yet are refunded (those already
        sent can't be called back: they finish)."""
        before = user_id in (await self._config.rules(guild_id)).banned_user_ids
        await self._config.ban(guild_id, user_id, reason, actor_id=actor_id)
        log.info("guild %s: member %s banned from generating by %s", guild_id, user_id, actor_id)
        # After the ban is written: a request reserved from here on is refused, so none can slip in behind this.
        refunded = await self._refund_unsent(guild_id, FailureKind.BANNED, user_id=user_id)
        return Stopped(Change("banned", before, True), refunded)

    async def unban(self, guild_id: int, user_id: int, *, actor_id: int) -> Change:
        before = user_id in (await self._config.rules(guild_id)).banned_user_ids
        if before:
            await self._config.unban(guild_id, user_id, actor_id=actor_id)
            log.info("guild %s: member %s unbanned by %s", guild_id, user_id, actor_id)
        return Change("banned", before, False)

    async def set_paused(self, guild_id: int, paused: bool, *, actor_id: int) -> Stopped:
        """The kill switch. New requests are refused, and renders not sent to the API yet (accepted, or held for
        approval) are refunded; those already sent can't be called back (the API has no cancel): they finish."""
        before = (await self._config.rules(guild_id)).paused
        if before != paused:
            await self._config.set_paused(guild_id, paused, actor_id=actor_id)
            log.warning("guild %s: generation %s by %s", guild_id, "paused" if paused else "resumed", actor_id)
        # Even when already paused: a request reserved just before the pause was written is caught this time.
        refunded = await self._refund_unsent(guild_id, FailureKind.PAUSED) if paused else []
        return Stopped(Change("paused", before, paused), refunded)

    async def _refund_unsent(
        self, guild_id: int, kind: FailureKind, *, user_id: int | None = None
    ) -> list[RenderRecord]:
        refunded = await self._renders.refund_unsent(guild_id, kind, now=self._now(), user_id=user_id)
        if refunded:
            log.warning(
                "guild %s: %d render(s) not sent yet refunded (%s): %s",
                guild_id,
                len(refunded),
                kind.value,
                ", ".join(render.id for render in refunded),
            )
            self._wake_tracker()
        return refunded

    # ---- channels ----------------------------------------------------------------------------------------

    async def set_channel_access(
        self, guild_id: int, channel_id: int, access: Literal["allow", "deny"] | None, *, actor_id: int
    ) -> Change:
        """Allow (once any channel is allowed only allowed ones work), deny, or clear (None) a channel."""
        rules = await self._config.rules(guild_id)
        before = _access_of(rules, channel_id)
        if before != access:
            await self._config.set_channel_access(guild_id, channel_id, access, actor_id=actor_id)
        return Change("channel_access", before, access)

    async def channel_rules(self, guild_id: int) -> GuildRules:
        return await self._config.rules(guild_id)

    async def channel_defaults(self, guild_id: int, channel_id: int) -> ChannelDefaults:
        return await self._config.channel_defaults(guild_id, channel_id)

    async def set_channel_defaults(
        self,
        guild_id: int,
        channel_id: int,
        *,
        mode: str | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        negative_prompt: str | None = None,
        thread_per_request: bool | None = None,
        model: str | None = None,
        sound: bool | None = None,
        clear: bool = False,
        actor_id: int,
    ) -> list[Change]:
        """Change the given defaults of a channel (the others are kept); `clear` first drops them all.

        `model` must be a model members of this server may pick; an empty `model` removes the channel's own
        default model (the server's applies again).
        """
        current = await self._config.channel_defaults(guild_id, channel_id)
        wanted = ChannelDefaults() if clear else current
        if model is not None:
            key = model.strip()
            if key:
                spec = self._offered("model", key)
                if spec.key in (await self._config.rules(guild_id)).disabled_models:
                    raise RequestValidationError(
                        "model",
                        f"{spec.label} is turned off in this server, so it can't be a channel's default. "
                        f"Turn it on first with `/videoadmin models enable:{spec.key}`.",
                    )
                wanted = replace(wanted, model=spec.key)
            else:
                wanted = replace(wanted, model=None)
        if sound is not None:
            wanted = replace(wanted, sound=sound)
        if mode is not None:
            wanted = replace(wanted, mode=_choice("mode", mode, QualityMode))
        if duration is not None:
            wanted = replace(wanted, duration=_in_range("duration", duration, MIN_DURATION, MAX_DURATION))
        if aspect_ratio is not None:
            wanted = replace(wanted, aspect_ratio=_choice("aspect_ratio", aspect_ratio, AspectRatio))
        if negative_prompt is not None:
            text = negative_prompt.strip()
            if len(text) > MAX_NEGATIVE_PROMPT_CHARS:
                raise RequestValidationError(
                    "negative_prompt",
                    f"`negative_prompt` is {len(text)} characters long; the limit is {MAX_NEGATIVE_PROMPT_CHARS}.",
                )
            wanted = replace(wanted, negative_prompt=text or None)
        if thread_per_request is not None:
            wanted = replace(wanted, thread_per_request=thread_per_request)
        if wanted != current:
            await self._config.set_channel_defaults(guild_id, channel_id, wanted, actor_id=actor_id)
        return [
            Change(setting.key, getattr(current, setting.field), getattr(wanted, setting.field))
            for setting in SETTINGS.of(Scope.CHANNEL)
        ]

    # ---- models ------------------------------------------------------------------------------------------

    async def models(self, guild_id: int) -> ServerModels:
        """Which of the bot's models members of this server may pick, and the default."""
        rules = await self._config.rules(guild_id)
        default = rules.default_model or self._default_model
        offered = self._models.enabled()
        usable = {spec.key for spec in offered if spec.key not in rules.disabled_models}
        stranded = {
            channel: defaults.model
            for channel, defaults in (await self._config.all_channel_defaults(guild_id)).items()
            if defaults.model is not None and defaults.model not in usable
        }
        return ServerModels(
            models=[ModelState(spec, spec.key in usable, spec.key == default) for spec in offered],
            default=default,
            default_inherited=rules.default_model is None,
            default_offered=default in {spec.key for spec in offered},
            stranded_channels=stranded,
        )

    async def set_models(
        self,
        guild_id: int,
        *,
        enable: str | None = None,
        disable: str | None = None,
        default: str | None = None,
        actor_id: int,
    ) -> list[Change]:
        """Turn a model on or off for this server, and/or make one the server's default (None = unchanged).

        The default must be a model that stays on; the default, and the last model on, can't be turned off.
        Both changes of one command are one audited change.
        """
        turn_on = self._offered("enable", enable) if enable is not None else None
        turn_off = self._offered("disable", disable) if disable is not None else None
        new_default = self._offered("default", default) if default is not None else None
        if turn_on is not None and turn_off is not None and turn_on.key == turn_off.key:
            raise RequestValidationError(None, f"`enable` and `disable` both name {turn_on.label}; pick one.")
        rules = await self._config.rules(guild_id)
        disabled = set(rules.disabled_models)
        if turn_on is not None:
            disabled.discard(turn_on.key)
        if turn_off is not None:
            disabled.add(turn_off.key)
        default_key = new_default.key if new_default is not None else rules.default_model
        effective = default_key or self._default_model
        if turn_off is not None and turn_off.key == effective:
            raise RequestValidationError(
                "disable",
                f"{turn_off.label} is this server's default model, so it can't be turned off. Make another model "
                "the default first (`default:`, in the same command if you like).",
            )
        if not any(spec.key not in disabled for spec in self._models.enabled()):
            assert turn_off is not None  # only turning a model off can leave none on
            raise RequestValidationError(
                "disable", f"{turn_off.label} is the last model on in this server; members need at least one."
            )
        if new_default is not None and new_default.key in disabled:
            raise RequestValidationError(
                "default",
                f"{new_default.label} is turned off in this server, so it can't be the default. Turn it on "
                f"first (`enable:{new_default.key}`, in the same command if you like).",
            )
        changes = [
            Change("disabled_models", rules.disabled_models, frozenset(disabled)),
            Change("default_model", rules.default_model, default_key),
        ]
        changed = {change.setting: change.after for change in changes if change.changed}
        if changed:
            await self._config.set_guild_settings(guild_id, "models.set", changed, actor_id=actor_id)
            log.info("guild %s: models %s by %s", guild_id, changed, actor_id)
        return changes

    def _offered(self, option: str, key: str) -> ModelSpec:
        """The model a moderator named, if the bot offers it (crafted interactions can name anything)."""
        spec = self._models.get(key.strip())
        if spec is None or not spec.enabled:
            offered = ", ".join(f"`{spec.key}`" for spec in self._models.enabled())
            raise RequestValidationError(
                option, f"`{option}`: `{key.strip()}` is not a model this bot offers. Pick one of {offered}."
            )
        return spec

    # ---- approvals ---------------------------------------------------------------------------------------

    async def set_approvals(
        self,
        guild_id: int,
        *,
        enabled: bool | None = None,
        pro_mode: bool | None = None,
        min_duration: int | None = None,
        min_cost: int | None = None,
        new_member_days: int | None = None,
        moderator_channel_id: int | None = None,
        actor_id: int,
    ) -> list[Change]:
        """Which requests wait for a moderator (0 turns a threshold off), and the moderator channel."""
        rules = await self._config.rules(guild_id)
        old = rules.approval
        new = ApprovalRules(
            enabled=old.enabled if enabled is None else enabled,
            pro_mode=old.pro_mode if pro_mode is None else pro_mode,
            min_duration=_zero_is_none("min_duration", min_duration, old.min_duration, MAX_DURATION),
            min_cost=_zero_is_none("min_cost", min_cost, old.min_cost, MAX_CREDITS),
            image_inputs_new_member_days=_zero_is_none(
                "new_member_days", new_member_days, old.image_inputs_new_member_days, MAX_NEW_MEMBER_DAYS
            ),
        )
        if new != old:
            await self._config.set_approval_rules(guild_id, new, actor_id=actor_id)
        changes = [
            Change(f"approval.{name}", getattr(old, name), getattr(new, name))
            for name in ("enabled", "pro_mode", "min_duration", "min_cost", "image_inputs_new_member_days")
        ]
        channel = rules.moderator_channel_id if moderator_channel_id is None else moderator_channel_id
        if channel != rules.moderator_channel_id:
            await self._config.set_moderator_channel(guild_id, channel, actor_id=actor_id)
        changes.append(Change("moderator_channel_id", rules.moderator_channel_id, channel))
        return changes

    # ---- reports -----------------------------------------------------------------------------------------

    async def queue(self, guild_id: int) -> list[RenderRecord]:
        """Renders not finished yet (held, queued, rendering, or waiting to be posted), oldest first."""
        return await self._renders.in_flight(guild_id)

    async def usage(self, guild_id: int, days: int) -> UsageReport:
        """Per member and per day over the last `days` UTC days (7 or 30), today included."""
        if days not in USAGE_PERIODS:
            raise RequestValidationError("period", "`period` must be 7 or 30 days.")
        today = as_utc(self._now()).date()
        since = today - timedelta(days=days - 1)
        by_member = await self._renders.usage_by_member(guild_id, since.isoformat())
        spent = {
            day: (credits, count)
            for day, credits, count in await self._renders.usage_by_day(guild_id, since.isoformat())
        }
        by_day = [
            DayUsage(day, *spent.get(day.isoformat(), (0, 0)))
            for day in (since + timedelta(days=offset) for offset in range(days))
        ]
        return UsageReport(days, [MemberUsage(*row) for row in by_member], by_day)

    async def audit(self, guild_id: int, limit: int = 10) -> list[AuditEntry]:
        """The latest configuration changes, newest first."""
        return await self._config.audit(guild_id, limit=_in_range("count", limit, 1, 50))


def _quota_source(rules: GuildRules, member: Requester) -> tuple[QuotaSource, int | None]:
    if is_exempt(rules, member):
        return QuotaSource.EXEMPT, None
    if member.user_id in rules.member_daily_credits:
        return QuotaSource.MEMBER, None
    roles = [(limit, role) for role, limit in rules.role_daily_credits.items() if role in member.role_ids]
    if roles:
        return QuotaSource.ROLE, max(roles)[1]
    return QuotaSource.DEFAULT, None


def _access_of(rules: GuildRules, channel_id: int) -> Literal["allow", "deny"] | None:
    if channel_id in rules.allowed_channel_ids:
        return "allow"
    if channel_id in rules.denied_channel_ids:
        return "deny"
    return None


def _choice(option: str, value: str, enum: type[E]) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(f"`{member.value}`" for member in enum)
        raise RequestValidationError(option, f"`{option}` must be one of {allowed}.") from None
