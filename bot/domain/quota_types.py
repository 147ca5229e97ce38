"""Value types shared by the quota policy (bot.domain.quota) and the storage that feeds and enforces it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class ApprovalRules:
    """Which requests wait for a moderator. All off by default; any rule that matches holds the request."""

    enabled: bool = False
    pro_mode: bool = False  # every pro request
    min_duration: int | None = None  # duration >= this
    min_cost: int | None = None  # cost of the whole request (all takes) >= this
    image_inputs_new_member_days: int | None = None  # image inputs from members who joined < N days ago


@dataclass(frozen=True)
class GuildRules:
    """Everything a server's moderators configured that bears on accepting a request."""

    default_daily_credits: int | None = 50  # per member per UTC day; None = unlimited
    role_daily_credits: dict[int, int] = field(default_factory=dict)  # role id -> daily credits
    member_daily_credits: dict[int, int] = field(default_factory=dict)  # user id -> daily credits (overrides roles)
    daily_budget: int | None = None  # whole server per UTC day; None = unlimited
    monthly_budget: int | None = None  # whole server per UTC calendar month
    max_in_flight_per_member: int | None = 2
    cooldown_seconds: int = 0
    exempt_role_ids: frozenset[int] = frozenset()
    banned_user_ids: frozenset[int] = frozenset()
    paused: bool = False
    # Channel gate: when allowed_channel_ids is non-empty only those channels work; denied ones never do.
    allowed_channel_ids: frozenset[int] = frozenset()
    denied_channel_ids: frozenset[int] = frozenset()
    approval: ApprovalRules = field(default_factory=ApprovalRules)
    moderator_channel_id: int | None = None
    default_model: str | None = None  # the server's default model; None = the bot's DEFAULT_MODEL
    disabled_models: frozenset[str] = frozenset()  # model keys turned off in this server


@dataclass(frozen=True)
class Requester:
    """The member asking, as Discord described them in the interaction."""

    user_id: int
    role_ids: frozenset[int] = frozenset()
    joined_at: datetime | None = None
    is_moderator: bool = False  # has Manage Server: never held for approval


@dataclass(frozen=True)
class UsageSnapshot:
    """What is already spent or held, read inside the reservation transaction."""

    member_used_today: int = 0  # charged credits of this member today (UTC), reserved or settled
    member_granted_today: int = 0  # extra credits a moderator granted this member today
    member_in_flight: int = 0  # renders of this member not finished yet
    member_last_request_at: datetime | None = None
    guild_used_today: int = 0
    guild_used_month: int = 0


class RefusalReason(StrEnum):
    BANNED = "banned"
    PAUSED = "paused"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    MEMBER_DAILY = "member_daily"
    GUILD_DAILY = "guild_daily"
    GUILD_MONTHLY = "guild_monthly"
    IN_FLIGHT = "in_flight"
    COOLDOWN = "cooldown"


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    # Facts the message needs: credits left, when the limit resets or the cooldown ends, the cap.
    credits_left: int | None = None
    retry_at: datetime | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one request (all its takes together)."""

    cost: int
    refusal: Refusal | None = None
    needs_approval: bool = False
    approval_reason: str | None = None  # e.g. "pro mode", shown to moderators
    member_credits_left: int | None = None  # after this request; None = unlimited
    member_resets_at: datetime | None = None
    guild_budget_left: int | None = None  # the tighter of daily/monthly, after this request; None = unlimited

    @property
    def accepted(self) -> bool:
        return self.refusal is None
