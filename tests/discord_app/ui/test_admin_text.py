"""What moderators read: changes as before → after, audit rows in plain words, long lists cut to fit Discord."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.discord_app.ui import admin_text
from bot.domain.models import load_model_table
from bot.domain.quota_types import GuildRules
from bot.domain.request import ChannelDefaults
from bot.domain.settings_catalog import SETTINGS, Scope
from bot.services.admin import (
    Change,
    DayUsage,
    MemberUsage,
    ModelState,
    ServerModels,
    ServerOverview,
    UsageReport,
)
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


# ---- models and the settings catalog -----------------------------------------------------------------------


def models_state(off: set[str], default: str = "kling-v3", **extra: Any) -> ServerModels:
    specs = load_model_table().enabled()
    models = [ModelState(spec, spec.key not in off, spec.key == default) for spec in specs]
    return ServerModels(
        models=models,
        default=default,
        default_inherited=extra.get("inherited", False),
        default_offered=extra.get("offered", True),
        stranded_channels=extra.get("stranded", {}),
    )


def test_models_card_lists_each_model_on_or_off_with_the_default_marked() -> None:
    text = admin_text.server_models(models_state({"veo-3.1"}, default="wan-2.6"))

    assert "• Veo 3.1 (`veo-3.1`): **off**" in text
    assert "• Wan 2.6 (`wan-2.6`): on · ⭐ **default**" in text
    assert "• Kling 3.0 (`kling-v3`): on\n" in text
    assert "the bot's own" not in text


def test_models_card_says_when_the_default_is_the_bots() -> None:
    text = admin_text.server_models(models_state(set(), inherited=True))

    assert "Default: `kling-v3`, the bot's own" in text


def test_models_card_warns_about_channels_whose_default_model_is_off() -> None:
    text = admin_text.server_models(models_state({"veo-3.1"}, stranded={77: "veo-3.1"}))

    assert (
        "⚠️ <#77> uses `veo-3.1` as its default, which is off here: members there get the server's default "
        "instead (change it with `/videoadmin defaults`)."
    ) in text
    assert "must pick" not in text


def test_models_card_warns_when_the_default_is_no_longer_offered() -> None:
    text = admin_text.server_models(models_state(set(), default="sora-1", offered=False))

    assert "The default `sora-1` is no longer offered by the bot" in text


def test_turning_a_model_off_reads_as_before_and_after() -> None:
    changes = [
        Change("disabled_models", frozenset(), frozenset({"veo-3.1"})),
        Change("default_model", None, None),
    ]

    reply = admin_text.models_reply(changes, models_state({"veo-3.1"}))

    assert reply.startswith(
        "Updated (written to the audit log):\n"
        "• Models turned off: none → **`veo-3.1`**\n"
        "• Server default model: the bot's default (unchanged)\n\n**Models in this server**"
    )


def test_the_models_reply_stays_within_discords_limit_with_many_stranded_channels() -> None:
    changes = [Change("disabled_models", frozenset(), frozenset({"veo-3.1"}))]
    stranded = {channel: "veo-3.1" for channel in range(10**17, 10**17 + 40)}

    reply = admin_text.models_reply(changes, models_state({"veo-3.1"}, stranded=stranded))

    assert len(reply) <= 2000
    assert reply.startswith("Updated (written to the audit log):")
    assert reply.endswith("more.")


def test_audit_row_of_the_servers_models_names_what_changed() -> None:
    row = entry("models.set", "guild", {"default_model": None}, {"default_model": "seedance-2.0"})

    assert admin_text.audit_line(row).endswith(
        "changed the server's models: Server default model the bot's default → `seedance-2.0`"
    )


def test_audit_row_of_channel_defaults_shows_model_and_sound() -> None:
    before = {"model": None, "sound": None, "mode": None}
    after = {"model": "veo-3.1", "sound": False, "mode": None}

    line = admin_text.audit_line(entry("channel.defaults", "channel:5", before, after))

    assert line.endswith(
        "changed defaults of <#5>: Default model server default → `veo-3.1`; Default sound the model's own → no"
    )


def test_audit_row_of_an_action_without_its_own_words_still_reads() -> None:
    line = admin_text.audit_line(entry("later_setting.set", "guild", {"cooldown_seconds": 0}, {"cooldown_seconds": 5}))

    assert line.endswith("changed settings of the server: Cooldown between requests none → 5 s")


def test_channel_defaults_card_lists_every_channel_setting() -> None:
    text = admin_text.channel_defaults(5, ChannelDefaults(model="veo-3.1", sound=True))

    assert "• Default model: `veo-3.1`" in text
    assert "• Default sound: yes" in text
    assert "• Default mode: std" in text
    assert text.count("\n• ") == len(SETTINGS.of(Scope.CHANNEL))


def test_server_rules_list_every_guild_setting_the_catalog_puts_there() -> None:
    rules = GuildRules(default_model="wan-2.6", disabled_models=frozenset({"veo-3.1"}), daily_budget=100)

    text = admin_text.server_overview(ServerOverview(rules, spent_today=30, spent_month=30))

    assert "Server default model: `wan-2.6`" in text
    assert "Models turned off: `veo-3.1`" in text
    assert "Daily server budget: 100 (30 used today, 70 left)" in text
    assert "Generation: running" in text
    for setting in SETTINGS.of(Scope.GUILD):
        assert (setting.label + ":" in text) == setting.overview
