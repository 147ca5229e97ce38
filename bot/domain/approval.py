"""Which requests wait for a moderator before they are sent (PRODUCT.md §3, approval)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.quota_types import ApprovalRules, Requester


def approval_reason(
    rules: ApprovalRules,
    *,
    requester: Requester,
    mode_pro: bool,
    duration: int,
    cost: int,
    has_image_inputs: bool,
    now: datetime,
) -> str | None:
    """Why this request must be approved, in a few words for moderators; None when it may go straight on.

    Every matching rule is named (joined by ", ") so the moderator sees the whole picture at once.
    Moderators are never held: they would only be approving themselves.
    """
    if not rules.enabled or requester.is_moderator:
        return None
    reasons: list[str] = []
    if rules.pro_mode and mode_pro:
        reasons.append("pro mode")
    if rules.min_duration is not None and duration >= rules.min_duration:
        reasons.append(f"{duration} s (approval from {rules.min_duration} s)")
    if rules.min_cost is not None and cost >= rules.min_cost:
        reasons.append(f"cost {cost} credits (approval from {rules.min_cost})")
    if has_image_inputs and rules.image_inputs_new_member_days is not None:
        age = _membership_age(requester, now)
        # An unknown join date is not held: Discord omits it in rare cases and that says nothing about the member.
        if age is not None and age < timedelta(days=rules.image_inputs_new_member_days):
            reasons.append(f"image input from a member who joined {_days_ago(age)}")
    return ", ".join(reasons) or None


def _membership_age(requester: Requester, now: datetime) -> timedelta | None:
    if requester.joined_at is None:
        return None
    return _as_utc(now) - _as_utc(requester.joined_at)


def _days_ago(age: timedelta) -> str:
    days = max(age.days, 0)  # a join date slightly in the future (clock skew) reads as today
    if days == 0:
        return "today"
    if days == 1:
        return "1 day ago"
    return f"{days} days ago"


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC: that is how the database hands them back on SQLite.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
