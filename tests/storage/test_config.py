from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from bot.domain.quota_types import ApprovalRules, GuildRules
from bot.domain.request import AspectRatio, ChannelDefaults, QualityMode
from bot.domain.settings_catalog import SETTINGS, Scope
from bot.storage.config import AuditEntry, GuildConfigRepository
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from bot.storage.tables import channel_settings, guild_settings
from tests.storage.builders import CHANNEL, GUILD, T0, USER, add_render

MOD = 9_000_000_000_000_000_009
ROLE = 4_000_000_000_000_000_004
DEFAULTS = GuildRules(default_daily_credits=40, max_in_flight_per_member=3, cooldown_seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _config(db: Database) -> GuildConfigRepository:
    return GuildConfigRepository(db, DEFAULTS, clock=Clock())


def test_every_guild_setting_has_its_column() -> None:
    columns = set(guild_settings.c.keys())

    assert {setting.storage_key for setting in SETTINGS.of(Scope.GUILD)} <= columns


async def test_unconfigured_guild_gets_the_defaults(db: Database) -> None:
    assert await _config(db).rules(GUILD) == DEFAULTS


async def test_guild_locked_by_a_reservation_still_gets_the_defaults(db: Database) -> None:
    await add_render(RenderRepository(db))  # creates the guild_settings row

    assert await _config(db).rules(GUILD) == DEFAULTS


async def test_member_and_role_limits_show_in_the_rules(db: Database) -> None:
    config = _config(db)

    await config.set_member_limit(GUILD, USER, 100, actor_id=MOD)
    await config.set_role_limit(GUILD, ROLE, 70, actor_id=MOD)

    rules = await config.rules(GUILD)
    assert rules.member_daily_credits == {USER: 100}
    assert rules.role_daily_credits == {ROLE: 70}


async def test_member_limit_none_removes_the_override_and_is_audited(db: Database) -> None:
    config = _config(db)
    await config.set_member_limit(GUILD, USER, 100, actor_id=MOD)

    await config.set_member_limit(GUILD, USER, None, actor_id=MOD)

    assert (await config.rules(GUILD)).member_daily_credits == {}
    assert [(e.action, e.target, e.before, e.after) for e in await config.audit(GUILD)] == [
        ("member_limit.set", f"user:{USER}", 100, None),
        ("member_limit.set", f"user:{USER}", None, 100),
    ]


async def test_audit_entry_records_who_and_when(db: Database) -> None:
    config = _config(db)

    await config.set_role_limit(GUILD, ROLE, 70, actor_id=MOD)

    assert await config.audit(GUILD) == [
        AuditEntry(actor_id=MOD, action="role_limit.set", target=f"role:{ROLE}", before=None, after=70, created_at=T0)
    ]


async def test_budget_none_means_unlimited_not_the_default(db: Database) -> None:
    config = GuildConfigRepository(db, GuildRules(daily_budget=500, monthly_budget=9000), clock=Clock())

    await config.set_budget(GUILD, None, 2000, actor_id=MOD)

    rules = await config.rules(GUILD)
    assert (rules.daily_budget, rules.monthly_budget) == (None, 2000)
    [entry] = await config.audit(GUILD)
    assert (entry.before, entry.after) == (
        {"daily_budget": 500, "monthly_budget": 9000},
        {"daily_budget": None, "monthly_budget": 2000},
    )


async def test_default_daily_credits_can_be_set_per_guild(db: Database) -> None:
    config = _config(db)

    await config.set_default_daily_credits(GUILD, None, actor_id=MOD)

    assert (await config.rules(GUILD)).default_daily_credits is None
    assert (await config.rules(GUILD + 1)).default_daily_credits == 40


async def test_limits_pause_moderator_channel_and_approval_show_in_the_rules(db: Database) -> None:
    config = _config(db)
    approval = ApprovalRules(enabled=True, pro_mode=True, min_cost=30)

    await config.set_limits(GUILD, None, 120, [ROLE, ROLE + 1], actor_id=MOD)
    await config.set_paused(GUILD, True, actor_id=MOD)
    await config.set_moderator_channel(GUILD, CHANNEL, actor_id=MOD)
    await config.set_approval_rules(GUILD, approval, actor_id=MOD)

    rules = await config.rules(GUILD)
    assert (rules.max_in_flight_per_member, rules.cooldown_seconds) == (None, 120)
    assert rules.exempt_role_ids == frozenset({ROLE, ROLE + 1})
    assert (rules.paused, rules.moderator_channel_id, rules.approval) == (True, CHANNEL, approval)
    assert [e.action for e in await config.audit(GUILD)] == [
        "approval.set",
        "moderator_channel.set",
        "pause.set",
        "limits.set",
    ]


async def test_limits_audit_shows_plain_values(db: Database) -> None:
    config = _config(db)

    await config.set_limits(GUILD, 1, 0, [ROLE], actor_id=MOD)

    [entry] = await config.audit(GUILD)
    assert entry.before == {"max_in_flight_per_member": 3, "cooldown_seconds": 10, "exempt_role_ids": []}
    assert entry.after == {"max_in_flight_per_member": 1, "cooldown_seconds": 0, "exempt_role_ids": [ROLE]}


async def test_ban_and_unban(db: Database) -> None:
    config = _config(db)

    await config.ban(GUILD, USER, "spam", actor_id=MOD)
    assert (await config.rules(GUILD)).banned_user_ids == frozenset({USER})

    await config.unban(GUILD, USER, actor_id=MOD)
    assert (await config.rules(GUILD)).banned_user_ids == frozenset()
    unban, ban = await config.audit(GUILD)
    assert (ban.action, ban.before, ban.after) == (
        "member.ban",
        None,
        {"banned_by": MOD, "reason": "spam", "created_at": T0.isoformat()},
    )
    assert (unban.action, unban.after) == ("member.unban", None)


async def test_channel_access_allow_deny_and_clear(db: Database) -> None:
    config = _config(db)

    await config.set_channel_access(GUILD, CHANNEL, "allow", actor_id=MOD)
    await config.set_channel_access(GUILD, CHANNEL + 1, "deny", actor_id=MOD)
    await config.set_channel_access(GUILD, CHANNEL + 2, "allow", actor_id=MOD)
    await config.set_channel_access(GUILD, CHANNEL + 2, None, actor_id=MOD)

    rules = await config.rules(GUILD)
    assert rules.allowed_channel_ids == frozenset({CHANNEL})
    assert rules.denied_channel_ids == frozenset({CHANNEL + 1})
    assert (await config.audit(GUILD, limit=1))[0].before == {"access": "allow", "defaults": None}


async def test_channel_defaults_round_trip_and_keep_the_access(db: Database) -> None:
    config = _config(db)
    defaults = ChannelDefaults(
        mode=QualityMode.PRO,
        duration=10,
        aspect_ratio=AspectRatio.TALL,
        negative_prompt="blur",
        thread_per_request=True,
    )
    await config.set_channel_access(GUILD, CHANNEL, "allow", actor_id=MOD)

    await config.set_channel_defaults(GUILD, CHANNEL, defaults, actor_id=MOD)

    assert await config.channel_defaults(GUILD, CHANNEL) == defaults
    assert (await config.rules(GUILD)).allowed_channel_ids == frozenset({CHANNEL})
    [entry, _] = await config.audit(GUILD)
    assert entry.before["mode"] is None
    assert entry.after["mode"] == "pro"


async def test_channel_default_model_and_sound_round_trip_and_are_audited(db: Database) -> None:
    config = _config(db)

    await config.set_channel_defaults(GUILD, CHANNEL, ChannelDefaults(model="veo-3.1", sound=False), actor_id=MOD)

    assert await config.channel_defaults(GUILD, CHANNEL) == ChannelDefaults(model="veo-3.1", sound=False)
    [entry] = await config.audit(GUILD)
    assert (entry.before["model"], entry.before["sound"]) == (None, None)
    assert (entry.after["model"], entry.after["sound"]) == ("veo-3.1", False)


async def test_channel_defaults_stored_before_models_existed_still_load(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(
            insert(channel_settings).values(
                guild_id=GUILD, channel_id=CHANNEL, defaults='{"mode": "pro", "duration": 10, "aspect_ratio": null}'
            )
        )

    assert await _config(db).channel_defaults(GUILD, CHANNEL) == ChannelDefaults(mode=QualityMode.PRO, duration=10)


async def test_all_channel_defaults_lists_only_channels_with_defaults(db: Database) -> None:
    config = _config(db)
    await config.set_channel_defaults(GUILD, CHANNEL, ChannelDefaults(model="wan-2.6"), actor_id=MOD)
    await config.set_channel_defaults(GUILD, CHANNEL + 1, ChannelDefaults(), actor_id=MOD)
    await config.set_channel_access(GUILD, CHANNEL + 2, "allow", actor_id=MOD)
    await config.set_channel_defaults(GUILD + 1, CHANNEL, ChannelDefaults(sound=True), actor_id=MOD)

    assert await config.all_channel_defaults(GUILD) == {CHANNEL: ChannelDefaults(model="wan-2.6")}


async def test_server_models_inherit_until_set(db: Database) -> None:
    rules = await _config(db).rules(GUILD)

    assert (rules.default_model, rules.disabled_models) == (None, frozenset())


async def test_server_default_and_disabled_models_are_stored_and_audited_as_plain_json(db: Database) -> None:
    config = _config(db)

    await config.set_guild_settings(
        GUILD,
        "models.set",
        {"default_model": "wan-2.6", "disabled_models": frozenset({"veo-3.1", "kling-v3"})},
        actor_id=MOD,
    )

    rules = await config.rules(GUILD)
    assert (rules.default_model, rules.disabled_models) == ("wan-2.6", frozenset({"veo-3.1", "kling-v3"}))
    assert (await config.rules(GUILD + 1)).default_model is None
    [entry] = await config.audit(GUILD)
    assert (entry.action, entry.actor_id) == ("models.set", MOD)
    assert entry.before == {"default_model": None, "disabled_models": []}
    assert entry.after == {"default_model": "wan-2.6", "disabled_models": ["kling-v3", "veo-3.1"]}


async def test_setting_one_guild_setting_leaves_the_others_unset(db: Database) -> None:
    config = _config(db)

    await config.set_guild_settings(GUILD, "models.set", {"disabled_models": frozenset({"veo-3.1"})}, actor_id=MOD)

    async with db.read() as conn:
        row = (await conn.execute(select(guild_settings).where(guild_settings.c.guild_id == GUILD))).one()
    assert (row.default_model, row.disabled_models, row.cooldown_seconds) == (None, '["veo-3.1"]', None)


async def test_unknown_guild_setting_is_a_programming_error(db: Database) -> None:
    with pytest.raises(ValueError, match="guild settings only"):
        await _config(db).set_guild_settings(GUILD, "x.set", {"banned_user_ids": frozenset()}, actor_id=MOD)


async def test_channel_without_defaults_gets_empty_defaults(db: Database) -> None:
    assert await _config(db).channel_defaults(GUILD, CHANNEL) == ChannelDefaults()


async def test_grant_adds_to_the_members_snapshot_for_that_day(db: Database) -> None:
    config, renders = _config(db), RenderRepository(db)

    await config.grant(GUILD, USER, 15, date(2026, 11, 24), actor_id=MOD)
    await config.grant(GUILD, USER, 5, T0, actor_id=MOD)

    assert (await renders.member_snapshot(GUILD, USER, T0)).member_granted_today == 20
    assert (await renders.member_snapshot(GUILD, USER, T0 + timedelta(days=1))).member_granted_today == 0
    assert (await config.audit(GUILD, limit=1))[0].after == {"day": "2026-11-24", "granted": 20}


async def test_reset_gives_the_member_their_whole_allowance_back(db: Database) -> None:
    config, renders = _config(db), RenderRepository(db)
    await add_render(renders, cost=30)
    await config.grant(GUILD, USER, 10, T0, actor_id=MOD)

    await config.reset_member(GUILD, USER, T0, actor_id=MOD)

    snapshot = await renders.member_snapshot(GUILD, USER, T0)
    assert snapshot.member_used_today - snapshot.member_granted_today == 0
    [entry, _] = await config.audit(GUILD)
    assert (entry.action, entry.before, entry.after) == (
        "member.reset",
        {"day": "2026-11-24", "used": 30, "granted": 10},
        {"day": "2026-11-24", "used": 30, "granted": 30},
    )


async def test_reset_of_a_member_with_credits_to_spare_grants_nothing(db: Database) -> None:
    config, renders = _config(db), RenderRepository(db)
    await config.grant(GUILD, USER, 10, T0, actor_id=MOD)

    await config.reset_member(GUILD, USER, T0, actor_id=MOD)

    assert (await renders.member_snapshot(GUILD, USER, T0)).member_granted_today == 10


async def test_audit_is_per_guild_and_limited(db: Database) -> None:
    config = _config(db)
    for daily in range(5):
        await config.set_member_limit(GUILD, USER, daily, actor_id=MOD)
    await config.set_paused(GUILD + 1, True, actor_id=MOD)

    entries = await config.audit(GUILD, limit=3)

    assert [e.after for e in entries] == [4, 3, 2]


async def test_audit_times_come_from_the_clock_in_utc(db: Database) -> None:
    clock = Clock()
    config = GuildConfigRepository(db, DEFAULTS, clock=clock)
    clock.now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)

    await config.set_paused(GUILD, True, actor_id=MOD)

    [entry] = await config.audit(GUILD)
    assert entry.created_at == clock.now
    assert entry.created_at.tzinfo is UTC
