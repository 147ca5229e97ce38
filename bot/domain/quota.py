"""The quota policy: may this member run this request now, and what is left afterwards (PRODUCT.md §3).

Pure: storage reads a `UsageSnapshot` inside the reservation transaction and calls `decide` with it, so the
answer and the reservation are one atomic step. Days and months are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.approval import approval_reason
from bot.domain.quota_types import Decision, GuildRules, Refusal, RefusalReason, Requester, UsageSnapshot
from bot.domain.request import GenerationMode, QualityMode, VideoRequest

ALERT_THRESHOLDS = (50, 80, 100)  # percent of a server budget at which moderators are told


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; naive datetimes are taken as UTC (SQLite hands them back naive)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_day_start(now: datetime) -> datetime:
    """Midnight UTC that began the day `now` falls in."""
    return as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)


def next_reset(now: datetime) -> datetime:
    """The next UTC midnight: when daily member credits and the daily server budget start afresh."""
    return utc_day_start(now) + timedelta(days=1)


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of the calendar month `now` falls in."""
    return utc_day_start(now).replace(day=1)


def next_month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of the next month: when the monthly server budget starts afresh."""
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def is_exempt(rules: GuildRules, requester: Requester) -> bool:
    """Whether the member holds an exempt role: no member limits and no approval, but server budgets still apply."""
    return not rules.exempt_role_ids.isdisjoint(requester.role_ids)


def member_daily_limit(rules: GuildRules, requester: Requester) -> int | None:
    """The member's daily credits before grants; None = unlimited.

    A member override wins; otherwise the most generous of the member's role overrides, which replaces the
    default (so a role may also lower it); otherwise the server default.
    """
    if requester.user_id in rules.member_daily_credits:
        return rules.member_daily_credits[requester.user_id]
    role_limits = [limit for role, limit in rules.role_daily_credits.items() if role in requester.role_ids]
    if role_limits:
        return max(role_limits)
    return rules.default_daily_credits


def has_image_inputs(request: VideoRequest) -> bool:
    """Whether the request carries images (first/last frame or references)."""
    return bool(request.images) or request.generation_mode is not GenerationMode.TEXT


def decide(
    *,
    rules: GuildRules,
    requester: Requester,
    usage: UsageSnapshot,
    request: VideoRequest,
    channel_id: int,
    cost: int,
    now: datetime,
) -> Decision:
    """Accept, hold for approval or refuse a request costing `cost` credits (all takes together).

    Checks run in a fixed order and the first refusal wins, because it is the one the member is told about:
    banned, paused, channel, then (unless exempt) renders in flight, cooldown, member daily credits, then the
    server's daily and monthly budgets, which bind exempt members too since they are real money.
    """
    gate = _gate_refusal(rules, requester, channel_id)
    if gate is not None:
        return Decision(cost=cost, refusal=gate)

    exempt = is_exempt(rules, requester)
    member_left: int | None = None
    member_resets_at: datetime | None = None
    if not exempt:
        refusal = _pace_refusal(rules, usage, now, request.takes)
        if refusal is not None:
            return Decision(cost=cost, refusal=refusal)
        limit = member_daily_limit(rules, requester)
        if limit is not None:
            left = limit + usage.member_granted_today - usage.member_used_today
            member_resets_at = next_reset(now)
            if cost > left:
                return Decision(
                    cost=cost,
                    refusal=Refusal(
                        RefusalReason.MEMBER_DAILY, credits_left=max(left, 0), retry_at=member_resets_at, limit=limit
                    ),
                )
            member_left = left - cost

    budget_lefts: list[int] = []
    for reason, budget, used, resets_at in (
        (RefusalReason.GUILD_DAILY, rules.daily_budget, usage.guild_used_today, next_reset(now)),
        (RefusalReason.GUILD_MONTHLY, rules.monthly_budget, usage.guild_used_month, next_month_start(now)),
    ):
        if budget is None:
            continue
        left = budget - used
        if cost > left:
            return Decision(
                cost=cost, refusal=Refusal(reason, credits_left=max(left, 0), retry_at=resets_at, limit=budget)
            )
        budget_lefts.append(left - cost)

    reason_text = None
    if not exempt:
        reason_text = approval_reason(
            rules.approval,
            requester=requester,
            mode_pro=request.mode is QualityMode.PRO,
            duration=request.duration,
            cost=cost,
            has_image_inputs=has_image_inputs(request),
            now=now,
        )
    return Decision(
        cost=cost,
        needs_approval=reason_text is not None,
        approval_reason=reason_text,
        member_credits_left=member_left,
        member_resets_at=member_resets_at,
        guild_budget_left=min(budget_lefts) if budget_lefts else None,
    )


def _gate_refusal(rules: GuildRules, requester: Requester, channel_id: int) -> Refusal | None:
    """Refusals that hold for everyone, exempt or not: banned, paused, wrong channel."""
    if requester.user_id in rules.banned_user_ids:
        return Refusal(RefusalReason.BANNED)
    if rules.paused:
        return Refusal(RefusalReason.PAUSED)
    if channel_id in rules.denied_channel_ids or (
        rules.allowed_channel_ids and channel_id not in rules.allowed_channel_ids
    ):
        return Refusal(RefusalReason.CHANNEL_NOT_ALLOWED)
    return None


def _pace_refusal(rules: GuildRules, usage: UsageSnapshot, now: datetime, takes: int) -> Refusal | None:
    """Per-member pacing: renders in flight (every take is a render), then the cooldown since the last request."""
    cap = rules.max_in_flight_per_member
    if cap is not None and usage.member_in_flight + takes > cap:
        return Refusal(RefusalReason.IN_FLIGHT, limit=cap)
    if rules.cooldown_seconds > 0 and usage.member_last_request_at is not None:
        ready_at = as_utc(usage.member_last_request_at) + timedelta(seconds=rules.cooldown_seconds)
        if ready_at > as_utc(now):
            return Refusal(RefusalReason.COOLDOWN, retry_at=ready_at, limit=rules.cooldown_seconds)
    return None


def crossed_thresholds(before: int, after: int, budget: int | None) -> list[int]:
    """The alert percentages (of 50/80/100) that spending from `before` to `after` reached for the first time.

    A threshold counts once: reaching it exactly counts, being at or past it already does not.
    """
    if not budget or budget <= 0:
        return []
    # Compare in integers (spent × 100 against percent × budget) so 80 % of 7 is not rounded either way.
    return [pct for pct in ALERT_THRESHOLDS if before * 100 < pct * budget <= after * 100]
