"""What moderators read: changes as before → after, audit rows in plain words, long lists cut to fit Discord."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.discord_app.ui import admin_text
from bot.services.admin import Change, DayUsage, MemberUsage, UsageReport
from bot.storage.config import AuditEntry

WHEN = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MOD = 42


def entry(action: str, target: str, before: Any, after: Any) -> AuditEntry:
    return AuditEntry(actor_id=MOD, action=action, target=target, before=before, after=after, created_at=WHEN)


def test_a_change_shows_before_and_after_in_words() -> None:
    line = admin_text.change_line(Change("default_daily_credits", 50, None))

    assert line == "• Default daily credits per member: 50 → **unlimited**"


def test_an_unchanged_setting_says_so() -> None:
    assert admin_text.change_line(Change("daily_budget", None, None)) == "• Daily server budget: none (unchanged)"


def test_nothing_changed_reply_says_nothing_changed() -> None:
    reply = admin_text.changes_reply([Change("paused", True, True)])

    assert reply.startswith("Nothing changed")


def test_audit_row_of_a_guild_setting_lists_only_what_changed() -> None:
    row = entry(
        "limits.set",
        "guild",
        {"max_in_flight_per_member": 2, "cooldown_seconds": 0, "exempt_role_ids": []},
        {"max_in_flight_per_member": 2, "cooldown_seconds": 30, "exempt_role_ids": [7]},
    )

    line = admin_text.audit_line(row)

    assert line == (
        f"<t:{int(WHEN.timestamp())}:f> <@{MOD}> changed member limits: "
        "Cooldown between requests none → 30 s; Exempt roles none → <@&7>"
    )


def test_audit_row_of_a_member_override_names_the_member() -> None:
    line = admin_text.audit_line(entry("member_limit.set", "user:9", None, 100))

    assert line.endswith("set daily credits of <@9>: no override → 100")


def test_audit_row_of_nested_approval_rules_compares_each_rule() -> None:
    before = {"approval": {"enabled": False, "pro_mode": False}}
    after = {"approval": {"enabled": True, "pro_mode": False}}

    line = admin_text.audit_line(entry("approval.set", "guild", before, after))

    assert line.endswith("changed approval rules: Approvals no → yes")


def test_ban_reason_is_echoed_without_mentions() -> None:
    after = {"banned_by": MOD, "reason": "spam @everyone", "created_at": WHEN.isoformat()}

    line = admin_text.audit_line(entry("member.ban", "user:9", None, after))

    assert "@everyone" not in line
    assert line.endswith("banned <@9>: spam @\u200beveryone")


def test_long_lists_are_cut_with_a_count_of_what_was_left_out() -> None:
    text = admin_text.fit([f"line {n:04d}" for n in range(500)], limit=100)

    assert len(text) <= 120
    assert text.endswith("more.")


def test_usage_skips_idle_days_and_sums_up() -> None:
    report = UsageReport(
        7,
        [MemberUsage(9, 12, 2)],
        [DayUsage(date(2026, 11, 23), 0, 0), DayUsage(date(2026, 11, 24), 12, 2)],
    )

    text = admin_text.usage(report)

    assert "**12 credits** in 2 renders" in text
    assert "• <@9>: 12 credits (2 renders)" in text
    assert "2026-11-23" not in text
