from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.approval import approval_reason
from bot.domain.quota_types import ApprovalRules, Requester

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
ALL_RULES = ApprovalRules(enabled=True, pro_mode=True, min_duration=10, min_cost=30, image_inputs_new_member_days=7)
VETERAN = Requester(user_id=1, joined_at=NOW - timedelta(days=400))
MODEST: dict[str, Any] = {"mode_pro": False, "duration": 5, "cost": 5, "has_image_inputs": False}


def reason(rules: ApprovalRules = ALL_RULES, requester: Requester = VETERAN, **overrides: Any) -> str | None:
    return approval_reason(rules, requester=requester, now=NOW, **{**MODEST, **overrides})


def test_modest_request_is_not_held() -> None:
    assert reason() is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"mode_pro": True}, "pro mode"),
        ({"duration": 15}, "15 s (approval from 10 s)"),
        ({"duration": 10}, "10 s (approval from 10 s)"),
        ({"cost": 30}, "cost 30 credits (approval from 30)"),
    ],
)
def test_matching_rule_is_named(overrides: dict[str, Any], expected: str) -> None:
    assert reason(**overrides) == expected


def test_just_below_thresholds_is_not_held() -> None:
    assert reason(duration=9, cost=29) is None


def test_several_matching_rules_are_all_named() -> None:
    assert reason(mode_pro=True, duration=15, cost=30) == (
        "pro mode, 15 s (approval from 10 s), cost 30 credits (approval from 30)"
    )


def test_disabled_rules_hold_nothing() -> None:
    rules = ApprovalRules(enabled=False, pro_mode=True, min_duration=3, min_cost=1, image_inputs_new_member_days=99)

    assert reason(rules, mode_pro=True, duration=15, cost=30, has_image_inputs=True) is None


def test_rule_switched_off_does_not_hold() -> None:
    assert reason(ApprovalRules(enabled=True), mode_pro=True, duration=15, cost=30) is None


def test_moderator_is_never_held() -> None:
    moderator = Requester(user_id=2, joined_at=NOW - timedelta(hours=1), is_moderator=True)

    assert reason(requester=moderator, mode_pro=True, duration=15, cost=30, has_image_inputs=True) is None


@pytest.mark.parametrize(
    ("joined_ago", "expected"),
    [
        (timedelta(days=2, hours=3), "image input from a member who joined 2 days ago"),
        (timedelta(days=1), "image input from a member who joined 1 day ago"),
        (timedelta(hours=5), "image input from a member who joined today"),
        (timedelta(days=6, hours=23), "image input from a member who joined 6 days ago"),
    ],
)
def test_image_input_from_new_member_is_held(joined_ago: timedelta, expected: str) -> None:
    newcomer = Requester(user_id=3, joined_at=NOW - joined_ago)

    assert reason(requester=newcomer, has_image_inputs=True) == expected


def test_image_input_from_member_joined_exactly_n_days_ago_is_not_held() -> None:
    member = Requester(user_id=3, joined_at=NOW - timedelta(days=7))

    assert reason(requester=member, has_image_inputs=True) is None


def test_new_member_without_images_is_not_held() -> None:
    newcomer = Requester(user_id=3, joined_at=NOW - timedelta(days=1))

    assert reason(requester=newcomer, has_image_inputs=False) is None


def test_unknown_join_date_is_not_held_for_images() -> None:
    assert reason(requester=Requester(user_id=4, joined_at=None), has_image_inputs=True) is None


def test_naive_join_date_is_read_as_utc() -> None:
    newcomer = Requester(user_id=5, joined_at=datetime(2025, 6, 13, 12, 0))

    assert reason(requester=newcomer, has_image_inputs=True) == "image input from a member who joined 2 days ago"
