from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.domain.quota import (
    crossed_thresholds,
    decide,
    member_daily_limit,
    month_start,
    next_month_start,
    next_reset,
    utc_day_start,
)
from bot.domain.quota_types import (
    ApprovalRules,
    Decision,
    GuildRules,
    Refusal,
    RefusalReason,
    Requester,
    UsageSnapshot,
)
from bot.domain.request import AspectRatio, GenerationMode, ImageRole, ImageSlot, QualityMode, VideoRequest

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
TOMORROW = datetime(2025, 6, 16, tzinfo=UTC)
NEXT_MONTH = datetime(2025, 7, 1, tzinfo=UTC)
CHANNEL = 500
ROLE_ARTIST = 10
ROLE_PATRON = 11
ROLE_STAFF = 12
MEMBER = Requester(user_id=1, joined_at=NOW - timedelta(days=365))
REQUEST = VideoRequest(
    prompt="a lighthouse at dusk",
    generation_mode=GenerationMode.TEXT,
    mode=QualityMode.STD,
    duration=5,
    aspect_ratio=AspectRatio.WIDE,
)


def run(
    rules: GuildRules | None = None,
    *,
    requester: Requester = MEMBER,
    usage: UsageSnapshot | None = None,
    request: VideoRequest = REQUEST,
    channel_id: int = CHANNEL,
    cost: int = 5,
    now: datetime = NOW,
) -> Decision:
    return decide(
        rules=rules or GuildRules(),
        requester=requester,
        usage=usage or UsageSnapshot(),
        request=request,
        channel_id=channel_id,
        cost=cost,
        now=now,
    )


def reason_of(decision: Decision) -> RefusalReason | None:
    return decision.refusal.reason if decision.refusal else None


# --- the member's daily limit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "role_ids", "expected"),
    [
        pytest.param(GuildRules(default_daily_credits=50), frozenset(), 50, id="default"),
        pytest.param(GuildRules(default_daily_credits=None), frozenset(), None, id="unlimited default"),
        pytest.param(
            GuildRules(role_daily_credits={ROLE_ARTIST: 20, ROLE_PATRON: 80}),
            frozenset({ROLE_ARTIST, ROLE_PATRON}),
            80,
            id="most generous role wins",
        ),
        pytest.param(
            GuildRules(default_daily_credits=50, role_daily_credits={ROLE_ARTIST: 20}),
            frozenset({ROLE_ARTIST}),
            20,
            id="role override replaces default",
        ),
        pytest.param(
            GuildRules(default_daily_credits=50, role_daily_credits={ROLE_PATRON: 80}),
            frozenset({ROLE_ARTIST}),
            50,
            id="role the member lacks is ignored",
        ),
        pytest.param(
            GuildRules(role_daily_credits={ROLE_PATRON: 80}, member_daily_credits={1: 5}),
            frozenset({ROLE_PATRON}),
            5,
            id="member override beats roles",
        ),
        pytest.param(
            GuildRules(default_daily_credits=None, member_daily_credits={1: 5}),
            frozenset(),
            5,
            id="member override limits even when default is unlimited",
        ),
    ],
)
def test_member_daily_limit(rules: GuildRules, role_ids: frozenset[int], expected: int | None) -> None:
    assert member_daily_limit(rules, replace(MEMBER, role_ids=role_ids)) == expected


def test_decide_reports_credits_left_from_most_generous_role() -> None:
    rules = GuildRules(role_daily_credits={ROLE_ARTIST: 20, ROLE_PATRON: 80})
    patron = replace(MEMBER, role_ids=frozenset({ROLE_ARTIST, ROLE_PATRON}))

    decision = run(rules, requester=patron, usage=UsageSnapshot(member_used_today=30), cost=10)

    assert decision.accepted
    assert decision.member_credits_left == 40


def test_unlimited_default_accepts_any_cost_and_reports_no_limit() -> None:
    decision = run(GuildRules(default_daily_credits=None), usage=UsageSnapshot(member_used_today=900), cost=120)

    assert decision.accepted
    assert decision.member_credits_left is None
    assert decision.member_resets_at is None


# --- credits left, grants, exact fits ------------------------------------------------------------------------


def test_accepted_request_reports_cost_credits_left_and_reset() -> None:
    decision = run(GuildRules(default_daily_credits=50), usage=UsageSnapshot(member_used_today=10), cost=5)

    assert decision == Decision(cost=5, member_credits_left=35, member_resets_at=TOMORROW)


def test_cost_exactly_equal_to_what_is_left_is_accepted() -> None:
    decision = run(GuildRules(default_daily_credits=50), usage=UsageSnapshot(member_used_today=40), cost=10)

    assert decision.accepted
    assert decision.member_credits_left == 0


def test_one_credit_more_than_left_is_refused_with_what_is_left() -> None:
    decision = run(GuildRules(default_daily_credits=50), usage=UsageSnapshot(member_used_today=40), cost=11)

    assert decision.refusal == Refusal(RefusalReason.MEMBER_DAILY, credits_left=10, retry_at=TOMORROW, limit=50)


def test_grants_add_to_the_allowance() -> None:
    usage = UsageSnapshot(member_used_today=50, member_granted_today=20)

    decision = run(GuildRules(default_daily_credits=50), usage=usage, cost=20)

    assert decision.accepted
    assert decision.member_credits_left == 0


def test_overspent_member_is_told_zero_left_not_negative() -> None:
    decision = run(GuildRules(default_daily_credits=50), usage=UsageSnapshot(member_used_today=60), cost=1)

    assert decision.refusal is not None
    assert decision.refusal.credits_left == 0


def test_moderator_is_not_exempt_from_member_limits() -> None:
    moderator = replace(MEMBER, is_moderator=True)

    decision = run(GuildRules(default_daily_credits=50), requester=moderator, usage=UsageSnapshot(member_used_today=50))

    assert reason_of(decision) is RefusalReason.MEMBER_DAILY


# --- exempt roles -------------------------------------------------------------------------------------------

EXEMPT_RULES = GuildRules(
    default_daily_credits=50,
    max_in_flight_per_member=1,
    cooldown_seconds=600,
    exempt_role_ids=frozenset({ROLE_STAFF}),
    approval=ApprovalRules(enabled=True, pro_mode=True),
)
STAFF = replace(MEMBER, role_ids=frozenset({ROLE_STAFF}))
EXHAUSTED = UsageSnapshot(member_used_today=50, member_in_flight=3, member_last_request_at=NOW - timedelta(seconds=1))


def test_exempt_role_bypasses_member_limits_cooldown_and_in_flight_cap() -> None:
    decision = run(EXEMPT_RULES, requester=STAFF, usage=EXHAUSTED, cost=30)

    assert decision == Decision(cost=30)


def test_exempt_role_is_not_held_for_approval() -> None:
    decision = run(EXEMPT_RULES, requester=STAFF, request=replace(REQUEST, mode=QualityMode.PRO))

    assert decision.accepted
    assert not decision.needs_approval


def test_exempt_role_is_still_bound_by_server_budget() -> None:
    rules = replace(EXEMPT_RULES, daily_budget=100)
    usage = replace(EXHAUSTED, guild_used_today=95)

    decision = run(rules, requester=STAFF, usage=usage, cost=10)

    assert decision.refusal == Refusal(RefusalReason.GUILD_DAILY, credits_left=5, retry_at=TOMORROW, limit=100)


def test_same_member_without_exempt_role_is_limited() -> None:
    assert reason_of(run(EXEMPT_RULES, usage=EXHAUSTED)) is RefusalReason.IN_FLIGHT


# --- gates: banned, paused, channels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "channel_id", "expected"),
    [
        pytest.param(GuildRules(banned_user_ids=frozenset({1})), CHANNEL, RefusalReason.BANNED, id="banned"),
        pytest.param(GuildRules(paused=True), CHANNEL, RefusalReason.PAUSED, id="paused"),
        pytest.param(
            GuildRules(banned_user_ids=frozenset({1}), paused=True), CHANNEL, RefusalReason.BANNED, id="banned first"
        ),
        pytest.param(
            GuildRules(paused=True, denied_channel_ids=frozenset({CHANNEL})),
            CHANNEL,
            RefusalReason.PAUSED,
            id="paused before channel",
        ),
        pytest.param(
            GuildRules(denied_channel_ids=frozenset({CHANNEL})),
            CHANNEL,
            RefusalReason.CHANNEL_NOT_ALLOWED,
            id="denied channel",
        ),
        pytest.param(
            GuildRules(allowed_channel_ids=frozenset({CHANNEL + 1})),
            CHANNEL,
            RefusalReason.CHANNEL_NOT_ALLOWED,
            id="channel outside allow-list",
        ),
        pytest.param(
            GuildRules(allowed_channel_ids=frozenset({CHANNEL}), denied_channel_ids=frozenset({CHANNEL})),
            CHANNEL,
            RefusalReason.CHANNEL_NOT_ALLOWED,
            id="deny beats allow",
        ),
        pytest.param(GuildRules(allowed_channel_ids=frozenset({CHANNEL})), CHANNEL, None, id="allow-listed channel"),
        pytest.param(GuildRules(denied_channel_ids=frozenset({CHANNEL + 1})), CHANNEL, None, id="other denied"),
    ],
)
def test_gates(rules: GuildRules, channel_id: int, expected: RefusalReason | None) -> None:
    assert reason_of(run(rules, channel_id=channel_id)) is expected


@pytest.mark.parametrize(
    "requester",
    [
        pytest.param(replace(MEMBER, role_ids=frozenset({ROLE_STAFF})), id="exempt"),
        pytest.param(replace(MEMBER, is_moderator=True), id="moderator"),
    ],
)
def test_gates_apply_to_exempt_members_and_moderators(requester: Requester) -> None:
    rules = GuildRules(exempt_role_ids=frozenset({ROLE_STAFF}), paused=True)

    assert reason_of(run(rules, requester=requester)) is RefusalReason.PAUSED


# --- the order of checks ------------------------------------------------------------------------------------

EVERYTHING_BROKEN = GuildRules(
    banned_user_ids=frozenset({1}),
    paused=True,
    denied_channel_ids=frozenset({CHANNEL}),
    max_in_flight_per_member=2,
    cooldown_seconds=60,
    default_daily_credits=50,
    daily_budget=100,
    monthly_budget=1000,
)
OVER_EVERYTHING = UsageSnapshot(
    member_used_today=50,
    member_in_flight=2,
    member_last_request_at=NOW - timedelta(seconds=10),
    guild_used_today=100,
    guild_used_month=1000,
)


# Each step fixes the rule that was reported, so the next one in line must surface.
FIX_STEPS: list[tuple[RefusalReason, dict[str, Any]]] = [
    (RefusalReason.BANNED, {"banned_user_ids": frozenset()}),
    (RefusalReason.PAUSED, {"paused": False}),
    (RefusalReason.CHANNEL_NOT_ALLOWED, {"denied_channel_ids": frozenset()}),
    (RefusalReason.IN_FLIGHT, {"max_in_flight_per_member": None}),
    (RefusalReason.COOLDOWN, {"cooldown_seconds": 0}),
    (RefusalReason.MEMBER_DAILY, {"default_daily_credits": None}),
    (RefusalReason.GUILD_DAILY, {"daily_budget": None}),
    (RefusalReason.GUILD_MONTHLY, {"monthly_budget": None}),
]


@pytest.mark.parametrize("fixed_count", range(len(FIX_STEPS)), ids=[reason.value for reason, _ in FIX_STEPS])
def test_first_broken_rule_in_order_is_the_one_reported(fixed_count: int) -> None:
    fixes: dict[str, Any] = {}
    for _, fix in FIX_STEPS[:fixed_count]:
        fixes.update(fix)
    rules = replace(EVERYTHING_BROKEN, **fixes)

    assert reason_of(run(rules, usage=OVER_EVERYTHING)) is FIX_STEPS[fixed_count][0]


def test_with_every_rule_fixed_the_request_is_accepted() -> None:
    fixes: dict[str, Any] = {}
    for _, fix in FIX_STEPS:
        fixes.update(fix)

    assert run(replace(EVERYTHING_BROKEN, **fixes), usage=OVER_EVERYTHING).accepted


# --- in flight and cooldown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "in_flight", "expected"),
    [
        (2, 2, RefusalReason.IN_FLIGHT),
        (2, 5, RefusalReason.IN_FLIGHT),
        (2, 1, None),
        (None, 40, None),
    ],
)
def test_in_flight_cap(cap: int | None, in_flight: int, expected: RefusalReason | None) -> None:
    decision = run(GuildRules(max_in_flight_per_member=cap), usage=UsageSnapshot(member_in_flight=in_flight))

    assert reason_of(decision) is expected


@pytest.mark.parametrize(
    ("in_flight", "takes", "expected"), [(1, 1, None), (1, 2, RefusalReason.IN_FLIGHT), (0, 2, None)]
)
def test_every_take_counts_towards_the_in_flight_cap(
    in_flight: int, takes: int, expected: RefusalReason | None
) -> None:
    decision = run(
        GuildRules(max_in_flight_per_member=2, default_daily_credits=None),
        usage=UsageSnapshot(member_in_flight=in_flight),
        request=replace(REQUEST, takes=takes),
        cost=5 * takes,
    )

    assert reason_of(decision) is expected


def test_in_flight_refusal_names_the_cap() -> None:
    decision = run(GuildRules(max_in_flight_per_member=2), usage=UsageSnapshot(member_in_flight=2))

    assert decision.refusal == Refusal(RefusalReason.IN_FLIGHT, limit=2)


def test_cooldown_refusal_says_when_to_retry() -> None:
    usage = UsageSnapshot(member_last_request_at=NOW - timedelta(seconds=45))

    decision = run(GuildRules(cooldown_seconds=60), usage=usage)

    assert decision.refusal == Refusal(RefusalReason.COOLDOWN, retry_at=NOW + timedelta(seconds=15), limit=60)


@pytest.mark.parametrize(
    ("cooldown", "seconds_ago"),
    [(60, 60), (60, 61), (0, 0)],
    ids=["cooldown just over", "cooldown long over", "no cooldown"],
)
def test_cooldown_over_or_off_accepts(cooldown: int, seconds_ago: int) -> None:
    usage = UsageSnapshot(member_last_request_at=NOW - timedelta(seconds=seconds_ago))

    assert run(GuildRules(cooldown_seconds=cooldown), usage=usage).accepted


def test_cooldown_reads_naive_last_request_as_utc() -> None:
    usage = UsageSnapshot(member_last_request_at=datetime(2025, 6, 15, 11, 59, 30))

    decision = run(GuildRules(cooldown_seconds=60), usage=usage)

    assert decision.refusal is not None
    assert decision.refusal.retry_at == NOW + timedelta(seconds=30)


# --- server budgets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "usage", "now", "expected"),
    [
        pytest.param(
            GuildRules(daily_budget=100),
            UsageSnapshot(guild_used_today=97),
            NOW,
            Refusal(RefusalReason.GUILD_DAILY, credits_left=3, retry_at=TOMORROW, limit=100),
            id="daily",
        ),
        pytest.param(
            GuildRules(monthly_budget=1000),
            UsageSnapshot(guild_used_month=998),
            NOW,
            Refusal(RefusalReason.GUILD_MONTHLY, credits_left=2, retry_at=NEXT_MONTH, limit=1000),
            id="monthly",
        ),
        pytest.param(
            GuildRules(monthly_budget=1000),
            UsageSnapshot(guild_used_month=1000),
            datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
            Refusal(RefusalReason.GUILD_MONTHLY, credits_left=0, retry_at=datetime(2026, 1, 1, tzinfo=UTC), limit=1000),
            id="monthly in december resets in january",
        ),
        pytest.param(
            GuildRules(daily_budget=100),
            UsageSnapshot(guild_used_today=100),
            datetime(2025, 12, 31, 8, 0, tzinfo=UTC),
            Refusal(RefusalReason.GUILD_DAILY, credits_left=0, retry_at=datetime(2026, 1, 1, tzinfo=UTC), limit=100),
            id="daily on new year's eve resets next year",
        ),
    ],
)
def test_server_budget_refusal(rules: GuildRules, usage: UsageSnapshot, now: datetime, expected: Refusal) -> None:
    assert run(rules, usage=usage, now=now).refusal == expected


def test_server_budget_exactly_filled_is_accepted() -> None:
    decision = run(GuildRules(daily_budget=100), usage=UsageSnapshot(guild_used_today=95), cost=5)

    assert decision.accepted
    assert decision.guild_budget_left == 0


@pytest.mark.parametrize(
    ("daily", "monthly", "expected"),
    [
        pytest.param(100, 1000, 5, id="monthly tighter"),
        pytest.param(30, 1000, 5, id="equal"),
        pytest.param(25, 1000, 0, id="daily tighter"),
        pytest.param(None, 1000, 5, id="monthly only"),
        pytest.param(100, None, 75, id="daily only"),
        pytest.param(None, None, None, id="unlimited"),
    ],
)
def test_guild_budget_left_is_the_tighter_after_this_request(
    daily: int | None, monthly: int | None, expected: int | None
) -> None:
    usage = UsageSnapshot(guild_used_today=20, guild_used_month=990)

    decision = run(GuildRules(daily_budget=daily, monthly_budget=monthly), usage=usage, cost=5)

    assert decision.guild_budget_left == expected


# --- approval through decide --------------------------------------------------------------------------------

HOLD_PRO = GuildRules(approval=ApprovalRules(enabled=True, pro_mode=True, image_inputs_new_member_days=7))
PRO_REQUEST = replace(REQUEST, mode=QualityMode.PRO)


def test_pro_request_is_held_with_reason_and_credits_reserved() -> None:
    decision = run(HOLD_PRO, request=PRO_REQUEST, cost=10)

    assert decision == Decision(
        cost=10, needs_approval=True, approval_reason="pro mode", member_credits_left=40, member_resets_at=TOMORROW
    )


def test_moderator_is_not_held_for_approval() -> None:
    decision = run(HOLD_PRO, requester=replace(MEMBER, is_moderator=True), request=PRO_REQUEST)

    assert decision.accepted
    assert not decision.needs_approval


def test_image_request_from_new_member_is_held() -> None:
    newcomer = replace(MEMBER, joined_at=NOW - timedelta(days=2))
    request = replace(
        REQUEST,
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "ab" * 32),),
    )

    decision = run(HOLD_PRO, requester=newcomer, request=request)

    assert decision.approval_reason == "image input from a member who joined 2 days ago"


def test_refusal_wins_over_approval() -> None:
    decision = run(HOLD_PRO, request=PRO_REQUEST, usage=UsageSnapshot(member_used_today=45), cost=10)

    assert reason_of(decision) is RefusalReason.MEMBER_DAILY
    assert not decision.needs_approval


# --- UTC days and months ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "day_start", "reset"),
    [
        pytest.param(
            datetime(2025, 6, 15, 23, 59, 59, tzinfo=UTC),
            datetime(2025, 6, 15, tzinfo=UTC),
            datetime(2025, 6, 16, tzinfo=UTC),
            id="last second of the day",
        ),
        pytest.param(
            datetime(2025, 6, 16, 0, 0, 0, tzinfo=UTC),
            datetime(2025, 6, 16, tzinfo=UTC),
            datetime(2025, 6, 17, tzinfo=UTC),
            id="midnight starts the new day",
        ),
        pytest.param(
            datetime(2025, 6, 15, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 14, tzinfo=UTC),
            datetime(2025, 6, 15, tzinfo=UTC),
            id="non-UTC clock is read in UTC",
        ),
        pytest.param(
            datetime(2024, 2, 28, 12, 0, tzinfo=UTC),
            datetime(2024, 2, 28, tzinfo=UTC),
            datetime(2024, 2, 29, tzinfo=UTC),
            id="leap day",
        ),
    ],
)
def test_utc_day(now: datetime, day_start: datetime, reset: datetime) -> None:
    assert (utc_day_start(now), next_reset(now)) == (day_start, reset)


def test_member_limit_resets_exactly_at_utc_midnight() -> None:
    rules = GuildRules(default_daily_credits=50)
    full = UsageSnapshot(member_used_today=50)

    before = run(rules, usage=full, now=datetime(2025, 6, 15, 23, 59, 59, tzinfo=UTC))
    # At midnight storage counts a fresh day, so the snapshot is empty again.
    after = run(rules, usage=UsageSnapshot(), now=datetime(2025, 6, 16, 0, 0, 0, tzinfo=UTC))

    assert before.refusal is not None
    assert before.refusal.retry_at == datetime(2025, 6, 16, tzinfo=UTC)
    assert after.member_resets_at == datetime(2025, 6, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "start", "next_start"),
    [
        pytest.param(NOW, datetime(2025, 6, 1, tzinfo=UTC), NEXT_MONTH, id="june"),
        pytest.param(
            datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2025, 12, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
            id="december rolls into january",
        ),
        pytest.param(
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            id="first instant of the month",
        ),
        pytest.param(
            datetime(2025, 1, 31, 18, 0, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
            id="31st into a short month",
        ),
    ],
)
def test_utc_month(now: datetime, start: datetime, next_start: datetime) -> None:
    assert (month_start(now), next_month_start(now)) == (start, next_start)


# --- spend alerts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "budget", "expected"),
    [
        pytest.param(0, 49, 100, [], id="below half"),
        pytest.param(0, 50, 100, [50], id="exactly half"),
        pytest.param(49, 51, 100, [50], id="across half"),
        pytest.param(50, 79, 100, [], id="already past half"),
        pytest.param(70, 85, 100, [80], id="across 80"),
        pytest.param(40, 85, 100, [50, 80], id="jumps over two"),
        pytest.param(0, 150, 100, [50, 80, 100], id="jumps over all"),
        pytest.param(99, 100, 100, [100], id="exactly full"),
        pytest.param(100, 120, 100, [], id="already full"),
        pytest.param(60, 40, 100, [], id="refund crosses nothing"),
        pytest.param(0, 6, 7, [50, 80], id="odd budget compares exactly"),
        pytest.param(3, 4, 7, [50], id="odd budget half"),
        pytest.param(0, 500, None, [], id="no budget"),
        pytest.param(0, 500, 0, [], id="zero budget"),
    ],
)
def test_crossed_thresholds(before: int, after: int, budget: int | None, expected: list[int]) -> None:
    assert crossed_thresholds(before, after, budget) == expected
