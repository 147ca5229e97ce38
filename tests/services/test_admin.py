"""AdminService on real storage: what each /videoadmin change does, what it reports, and what it audits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import RequestValidationError
from bot.domain.models import ModelTable, load_model_table
from bot.domain.quota_types import ApprovalRules, GuildRules, Requester
from bot.domain.request import AspectRatio, ChannelDefaults, QualityMode
from bot.domain.states import FailureKind, RenderState
from bot.services.admin import UNLIMITED, AdminService, Change, QuotaSource, parse_credits
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import CHANNEL, GUILD, T0, USER, add_render
from tests.storage.databases import ENGINES, open_database

MOD = 9_000_000_000_000_000_009
ROLE = 4_000_000_000_000_000_004
OTHER_ROLE = 4_000_000_000_000_000_005
OTHER_USER = 3_000_000_000_000_000_033
MOD_CHANNEL = 5_000_000_000_000_000_005
DEFAULTS = GuildRules(default_daily_credits=50, max_in_flight_per_member=2)
MEMBER = Requester(user_id=USER)


@dataclass
class Admin:
    service: AdminService
    config: GuildConfigRepository
    renders: RenderRepository
    wakes: list[None]

    async def rules(self) -> GuildRules:
        return await self.config.rules(GUILD)

    async def audit_actions(self) -> list[str]:
        return [entry.action for entry in await self.config.audit(GUILD, limit=50)]


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(str(request.param), tmp_path) as database:
        yield database


@pytest.fixture
def admin(db: Database) -> Admin:
    config = GuildConfigRepository(db, DEFAULTS, clock=lambda: T0)
    renders = RenderRepository(db)
    wakes: list[None] = []
    service = AdminService(
        config=config,
        renders=renders,
        models=load_model_table(),
        default_model="kling-v3",
        now=lambda: T0,
        wake_tracker=lambda: wakes.append(None),
    )
    return Admin(service, config, renders, wakes)


# ---- quotas ----------------------------------------------------------------------------------------------------


async def test_member_quota_set_reports_before_and_after_and_applies(admin: Admin) -> None:
    change = await admin.service.set_member_quota(GUILD, USER, 10, actor_id=MOD)

    assert change == Change("member_daily_credits", None, 10)
    quota = await admin.service.member_quota(GUILD, MEMBER)
    assert (quota.limit, quota.source, quota.left) == (10, QuotaSource.MEMBER, 10)


async def test_clearing_a_member_override_falls_back_to_the_default(admin: Admin) -> None:
    await admin.service.set_member_quota(GUILD, USER, 10, actor_id=MOD)

    change = await admin.service.set_member_quota(GUILD, USER, None, actor_id=MOD)

    assert change == Change("member_daily_credits", 10, None)
    quota = await admin.service.member_quota(GUILD, MEMBER)
    assert (quota.limit, quota.source) == (50, QuotaSource.DEFAULT)


async def test_most_generous_role_decides_and_is_named(admin: Admin) -> None:
    await admin.service.set_role_quota(GUILD, ROLE, 80, actor_id=MOD)
    await admin.service.set_role_quota(GUILD, OTHER_ROLE, 20, actor_id=MOD)

    quota = await admin.service.member_quota(GUILD, Requester(USER, role_ids=frozenset({ROLE, OTHER_ROLE})))

    assert (quota.limit, quota.source, quota.source_role_id) == (80, QuotaSource.ROLE, ROLE)


async def test_role_quota_shows_override_default_and_exemption(admin: Admin) -> None:
    await admin.service.set_role_quota(GUILD, ROLE, 80, actor_id=MOD)
    await admin.service.set_exempt(GUILD, ROLE, True, actor_id=MOD)

    quota = await admin.service.role_quota(GUILD, ROLE)

    assert (quota.override, quota.default, quota.exempt) == (80, 50, True)


async def test_exempt_member_has_unlimited_credits(admin: Admin) -> None:
    await admin.service.set_exempt(GUILD, ROLE, True, actor_id=MOD)

    quota = await admin.service.member_quota(GUILD, Requester(USER, role_ids=frozenset({ROLE})))

    assert (quota.limit, quota.left, quota.source) == (None, None, QuotaSource.EXEMPT)


async def test_member_quota_counts_used_and_in_flight_but_not_refunds(admin: Admin) -> None:
    await add_render(admin.renders, cost=5)
    refunded = await add_render(admin.renders, cost=7)
    await admin.renders.move(refunded[0].id, RenderState.FAILED, now=T0)

    quota = await admin.service.member_quota(GUILD, MEMBER)

    assert (quota.used_today, quota.in_flight, quota.left) == (5, 1, 45)


async def test_grant_adds_credits_for_today_only(admin: Admin) -> None:
    await add_render(admin.renders, cost=50)

    before, after = await admin.service.grant(GUILD, MEMBER, 15, actor_id=MOD)

    assert (before.left, after.left, after.granted_today) == (0, 15, 15)


async def test_reset_gives_the_whole_allowance_back(admin: Admin) -> None:
    await add_render(admin.renders, cost=35)

    before, after = await admin.service.reset(GUILD, MEMBER, actor_id=MOD)

    assert (before.left, after.left) == (15, 50)
    assert await admin.audit_actions() == ["member.reset"]


async def test_grant_of_zero_credits_is_refused(admin: Admin) -> None:
    with pytest.raises(RequestValidationError) as refused:
        await admin.service.grant(GUILD, MEMBER, 0, actor_id=MOD)

    assert refused.value.option == "credits"
    assert await admin.audit_actions() == []


# ---- server-wide limits ------------------------------------------------------------------------------------


async def test_budget_sets_daily_and_keeps_monthly(admin: Admin) -> None:
    await admin.service.set_budget(GUILD, monthly=1000, actor_id=MOD)

    changes = await admin.service.set_budget(GUILD, daily=100, actor_id=MOD)

    assert changes == [Change("daily_budget", None, 100), Change("monthly_budget", 1000, 1000)]
    rules = await admin.rules()
    assert (rules.daily_budget, rules.monthly_budget) == (100, 1000)


async def test_budget_zero_removes_it(admin: Admin) -> None:
    await admin.service.set_budget(GUILD, daily=100, actor_id=MOD)

    changes = await admin.service.set_budget(GUILD, daily=0, actor_id=MOD)

    assert changes[0] == Change("daily_budget", 100, None)
    assert (await admin.rules()).daily_budget is None


async def test_limits_change_pacing_and_default_credits(admin: Admin) -> None:
    changes = await admin.service.set_limits(
        GUILD, max_in_flight=0, cooldown_seconds=30, default_daily_credits=UNLIMITED, actor_id=MOD
    )

    assert changes == [
        Change("default_daily_credits", 50, None),
        Change("max_in_flight_per_member", 2, None),
        Change("cooldown_seconds", 0, 30),
    ]
    rules = await admin.rules()
    assert (rules.default_daily_credits, rules.max_in_flight_per_member, rules.cooldown_seconds) == (None, None, 30)


async def test_limits_leave_what_was_not_given(admin: Admin) -> None:
    await admin.service.set_limits(GUILD, cooldown_seconds=30, actor_id=MOD)

    await admin.service.set_limits(GUILD, max_in_flight=4, actor_id=MOD)

    rules = await admin.rules()
    assert (rules.max_in_flight_per_member, rules.cooldown_seconds) == (4, 30)


async def test_exempting_a_role_keeps_the_other_limits_following_the_bot_defaults(admin: Admin, db: Database) -> None:
    await admin.service.set_exempt(GUILD, ROLE, True, actor_id=MOD)

    # The operator later raises the bot-wide in-flight cap: this server never chose its own, so it follows.
    raised = GuildConfigRepository(db, GuildRules(default_daily_credits=50, max_in_flight_per_member=5))
    rules = await raised.rules(GUILD)
    assert rules.exempt_role_ids == frozenset({ROLE})
    assert rules.max_in_flight_per_member == 5


async def test_crafted_out_of_range_limit_is_refused_and_nothing_written(admin: Admin) -> None:
    with pytest.raises(RequestValidationError) as refused:
        await admin.service.set_limits(GUILD, cooldown_seconds=-5, actor_id=MOD)

    assert refused.value.option == "cooldown_seconds"
    assert await admin.audit_actions() == []


@pytest.mark.parametrize(
    ("typed", "parsed"), [("25", 25), ("1,000", 1000), ("Unlimited", UNLIMITED), ("none", UNLIMITED)]
)
def test_credits_are_a_number_or_unlimited(typed: str, parsed: object) -> None:
    assert parse_credits("default_daily_credits", typed) == parsed


def test_credits_in_words_are_refused_naming_the_option() -> None:
    with pytest.raises(RequestValidationError, match="`default_daily_credits` must be a whole number"):
        parse_credits("default_daily_credits", "lots")


async def test_exempt_remove_takes_the_role_off_and_keeps_the_others(admin: Admin) -> None:
    await admin.service.set_exempt(GUILD, ROLE, True, actor_id=MOD)
    await admin.service.set_exempt(GUILD, OTHER_ROLE, True, actor_id=MOD)

    change = await admin.service.set_exempt(GUILD, ROLE, False, actor_id=MOD)

    assert change == Change("exempt_role_ids", frozenset({ROLE, OTHER_ROLE}), frozenset({OTHER_ROLE}))
    assert (await admin.rules()).exempt_role_ids == {OTHER_ROLE}


async def test_ban_and_unban(admin: Admin) -> None:
    assert (await admin.service.ban(GUILD, USER, "spam", actor_id=MOD)).change == Change("banned", False, True)
    assert USER in (await admin.rules()).banned_user_ids

    assert await admin.service.unban(GUILD, USER, actor_id=MOD) == Change("banned", True, False)
    assert USER not in (await admin.rules()).banned_user_ids


async def test_unban_of_a_member_never_banned_writes_nothing(admin: Admin) -> None:
    change = await admin.service.unban(GUILD, OTHER_USER, actor_id=MOD)

    assert not change.changed
    assert await admin.audit_actions() == []


async def test_pause_twice_is_one_change(admin: Admin) -> None:
    first = await admin.service.set_paused(GUILD, True, actor_id=MOD)
    second = await admin.service.set_paused(GUILD, True, actor_id=MOD)

    assert (first.change.changed, second.change.changed) == (True, False)
    assert (await admin.rules()).paused
    assert await admin.audit_actions() == ["pause.set"]


async def test_resume_lifts_the_pause(admin: Admin) -> None:
    await admin.service.set_paused(GUILD, True, actor_id=MOD)

    await admin.service.set_paused(GUILD, False, actor_id=MOD)

    assert not (await admin.rules()).paused


async def renders_in_every_state(admin: Admin, **fields: object) -> dict[RenderState, str]:
    """One render in each state a request passes through before its end (ids by state)."""
    made: dict[RenderState, str] = {}
    for state in (RenderState.AWAITING_APPROVAL, RenderState.ACCEPTED):
        [render] = await add_render(admin.renders, state=state, **fields)
        made[state] = render.id
    for state in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING, RenderState.SUCCEEDED):
        [render] = await add_render(admin.renders, **fields)
        for step in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING, RenderState.SUCCEEDED):
            await admin.renders.move(render.id, step, now=T0)
            if step is state:
                break
        made[state] = render.id
    return made


async def states_of(admin: Admin, ids: dict[RenderState, str]) -> dict[RenderState, tuple[RenderState, object]]:
    found = {}
    for before, render_id in ids.items():
        render = await admin.renders.get(render_id)
        assert render is not None
        found[before] = (render.state, render.failure_kind)
    return found


async def test_pausing_refunds_what_was_not_sent_yet_and_lets_the_rest_finish(admin: Admin) -> None:
    ids = await renders_in_every_state(admin, cost=5)
    used_before = (await admin.renders.member_snapshot(GUILD, USER, T0)).member_used_today

    stopped = await admin.service.set_paused(GUILD, True, actor_id=MOD)

    assert sorted(render.id for render in stopped.refunded) == sorted(
        [ids[RenderState.AWAITING_APPROVAL], ids[RenderState.ACCEPTED]]
    )
    assert stopped.refunded_credits == 10
    assert await states_of(admin, ids) == {
        RenderState.AWAITING_APPROVAL: (RenderState.FAILED, FailureKind.PAUSED),
        RenderState.ACCEPTED: (RenderState.FAILED, FailureKind.PAUSED),
        # Already at the API (or possibly): no cancel exists, so they run to the end and are delivered.
        RenderState.SUBMITTING: (RenderState.SUBMITTING, None),
        RenderState.QUEUED: (RenderState.QUEUED, None),
        RenderState.RENDERING: (RenderState.RENDERING, None),
        RenderState.SUCCEEDED: (RenderState.SUCCEEDED, None),
    }
    assert (await admin.renders.member_snapshot(GUILD, USER, T0)).member_used_today == used_before - 10
    assert admin.wakes  # the tracker shows the refunds on the cards now, not at its next look


async def test_refunded_renders_are_due_at_once_and_free_of_any_lease(admin: Admin) -> None:
    [render] = await add_render(admin.renders)
    [claimed] = await admin.renders.claim_due("tracker-a", now=T0, limit=1, lease_seconds=300)
    assert claimed.id == render.id

    await admin.service.set_paused(GUILD, True, actor_id=MOD)

    refunded = await admin.renders.get(render.id)
    assert refunded is not None
    assert (refunded.lease_owner, refunded.next_poll_at, refunded.finished_at) == (None, T0, T0)


async def test_pausing_leaves_other_servers_alone(admin: Admin) -> None:
    [elsewhere] = await add_render(admin.renders, guild_id=GUILD + 1)

    stopped = await admin.service.set_paused(GUILD, True, actor_id=MOD)

    assert stopped.refunded == []
    assert admin.wakes == []
    still = await admin.renders.get(elsewhere.id)
    assert still is not None and still.state is RenderState.ACCEPTED


async def test_resuming_refunds_nothing(admin: Admin) -> None:
    await admin.service.set_paused(GUILD, True, actor_id=MOD)
    [render] = await add_render(admin.renders)

    stopped = await admin.service.set_paused(GUILD, False, actor_id=MOD)

    assert stopped.refunded == []
    kept = await admin.renders.get(render.id)
    assert kept is not None and kept.state is RenderState.ACCEPTED


async def test_banning_refunds_that_members_renders_not_sent_yet_only(admin: Admin) -> None:
    ids = await renders_in_every_state(admin)
    [others] = await add_render(admin.renders, user_id=OTHER_USER)
    [elsewhere] = await add_render(admin.renders, guild_id=GUILD + 1)

    stopped = await admin.service.ban(GUILD, USER, "spam", actor_id=MOD)

    assert len(stopped.refunded) == 2
    found = await states_of(admin, ids)
    assert found[RenderState.AWAITING_APPROVAL] == (RenderState.FAILED, FailureKind.BANNED)
    assert found[RenderState.ACCEPTED] == (RenderState.FAILED, FailureKind.BANNED)
    assert found[RenderState.QUEUED] == (RenderState.QUEUED, None)
    for untouched in (others.id, elsewhere.id):
        render = await admin.renders.get(untouched)
        assert render is not None and render.state is RenderState.ACCEPTED
    assert admin.wakes


# ---- channels ----------------------------------------------------------------------------------------------


async def test_channel_allow_then_clear(admin: Admin) -> None:
    allowed = await admin.service.set_channel_access(GUILD, CHANNEL, "allow", actor_id=MOD)
    assert allowed == Change("channel_access", None, "allow")
    assert (await admin.rules()).allowed_channel_ids == {CHANNEL}

    cleared = await admin.service.set_channel_access(GUILD, CHANNEL, None, actor_id=MOD)

    assert cleared == Change("channel_access", "allow", None)
    assert (await admin.rules()).allowed_channel_ids == frozenset()


async def test_channel_deny_shows_in_the_rules(admin: Admin) -> None:
    await admin.service.set_channel_access(GUILD, CHANNEL, "deny", actor_id=MOD)

    assert (await admin.service.channel_rules(GUILD)).denied_channel_ids == {CHANNEL}


async def test_channel_defaults_change_only_what_is_given(admin: Admin) -> None:
    await admin.service.set_channel_defaults(GUILD, CHANNEL, mode="pro", duration=10, actor_id=MOD)

    await admin.service.set_channel_defaults(GUILD, CHANNEL, aspect_ratio="9:16", actor_id=MOD)

    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults(
        mode=QualityMode.PRO, duration=10, aspect_ratio=AspectRatio.TALL
    )


async def test_channel_defaults_clear_drops_them_all(admin: Admin) -> None:
    await admin.service.set_channel_defaults(GUILD, CHANNEL, mode="pro", negative_prompt="blur", actor_id=MOD)

    await admin.service.set_channel_defaults(GUILD, CHANNEL, clear=True, actor_id=MOD)

    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults()


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"duration": 17}, "duration"),
        ({"duration": 0}, "duration"),
        ({"negative_prompt": "x" * 2501}, "negative_prompt"),
        ({"mode": "ultra"}, "mode"),
        ({"aspect_ratio": "5:4"}, "aspect_ratio"),
        ({"model": "sora-9"}, "model"),
    ],
)
async def test_invalid_channel_defaults_are_refused_naming_the_option(
    admin: Admin, options: dict[str, object], option: str
) -> None:
    with pytest.raises(RequestValidationError) as refused:
        await admin.service.set_channel_defaults(GUILD, CHANNEL, actor_id=MOD, **options)  # type: ignore[arg-type]

    assert refused.value.option == option
    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults()


async def test_channel_default_model_and_sound_are_set_and_reported(admin: Admin) -> None:
    changes = await admin.service.set_channel_defaults(GUILD, CHANNEL, model="veo-3.1", sound=False, actor_id=MOD)

    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults(model="veo-3.1", sound=False)
    assert [c for c in changes if c.changed] == [
        Change("channel_defaults.model", None, "veo-3.1"),
        Change("channel_defaults.sound", None, False),
    ]
    assert await admin.audit_actions() == ["channel.defaults"]


async def test_empty_channel_default_model_goes_back_to_the_servers(admin: Admin) -> None:
    await admin.service.set_channel_defaults(GUILD, CHANNEL, model="veo-3.1", mode="pro", actor_id=MOD)

    await admin.service.set_channel_defaults(GUILD, CHANNEL, model="", actor_id=MOD)

    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults(mode=QualityMode.PRO)


async def test_a_model_turned_off_here_cant_be_a_channel_default(admin: Admin) -> None:
    await admin.service.set_models(GUILD, disable="veo-3.1", actor_id=MOD)

    with pytest.raises(RequestValidationError, match="turned off in this server") as refused:
        await admin.service.set_channel_defaults(GUILD, CHANNEL, model="veo-3.1", actor_id=MOD)

    assert refused.value.option == "model"
    assert await admin.service.channel_defaults(GUILD, CHANNEL) == ChannelDefaults()


# ---- models ------------------------------------------------------------------------------------------------


async def test_models_of_an_untouched_server_are_all_on_with_the_bots_default(admin: Admin) -> None:
    state = await admin.service.models(GUILD)

    assert [(m.spec.key, m.on, m.default) for m in state.models][:3] == [
        ("kling-v3", True, True),
        ("seedance-2.0", True, False),
        ("veo-3.1", True, False),
    ]
    assert all(m.on for m in state.models)
    assert (state.default, state.default_inherited, state.default_offered) == ("kling-v3", True, True)


async def test_disabling_a_model_turns_it_off_here_only_and_is_audited(admin: Admin) -> None:
    changes = await admin.service.set_models(GUILD, disable="veo-3.1", actor_id=MOD)

    assert changes[0] == Change("disabled_models", frozenset(), frozenset({"veo-3.1"}))
    assert not changes[1].changed
    assert (await admin.rules()).disabled_models == {"veo-3.1"}
    assert (await admin.config.rules(GUILD + 1)).disabled_models == frozenset()
    state = await admin.service.models(GUILD)
    assert {m.spec.key for m in state.models if not m.on} == {"veo-3.1"}
    [entry] = await admin.service.audit(GUILD)
    assert (entry.actor_id, entry.action, entry.before, entry.after) == (
        MOD,
        "models.set",
        {"disabled_models": []},
        {"disabled_models": ["veo-3.1"]},
    )


async def test_enabling_a_model_turns_it_back_on(admin: Admin) -> None:
    await admin.service.set_models(GUILD, disable="veo-3.1", actor_id=MOD)
    await admin.service.set_models(GUILD, disable="wan-2.6", actor_id=MOD)

    change = (await admin.service.set_models(GUILD, enable="veo-3.1", actor_id=MOD))[0]

    assert change == Change("disabled_models", frozenset({"veo-3.1", "wan-2.6"}), frozenset({"wan-2.6"}))
    assert (await admin.rules()).disabled_models == {"wan-2.6"}


async def test_server_default_is_stored_and_marked(admin: Admin) -> None:
    changes = await admin.service.set_models(GUILD, default="seedance-2.0", actor_id=MOD)

    assert changes[1] == Change("default_model", None, "seedance-2.0")
    assert (await admin.rules()).default_model == "seedance-2.0"
    state = await admin.service.models(GUILD)
    assert [m.spec.key for m in state.models if m.default] == ["seedance-2.0"]
    assert (state.default, state.default_inherited) == ("seedance-2.0", False)


async def test_the_default_model_cant_be_turned_off(admin: Admin) -> None:
    await admin.service.set_models(GUILD, default="wan-2.6", actor_id=MOD)

    with pytest.raises(RequestValidationError, match="default model, so it can't be turned off") as refused:
        await admin.service.set_models(GUILD, disable="wan-2.6", actor_id=MOD)

    assert refused.value.option == "disable"
    assert (await admin.rules()).disabled_models == frozenset()
    assert await admin.audit_actions() == ["models.set"]


async def test_the_bots_default_cant_be_turned_off_while_the_server_follows_it(admin: Admin) -> None:
    with pytest.raises(RequestValidationError, match=r"Kling 3\.0 .* default model"):
        await admin.service.set_models(GUILD, disable="kling-v3", actor_id=MOD)


async def test_turning_the_default_off_works_with_a_new_default_in_the_same_command(admin: Admin) -> None:
    await admin.service.set_models(GUILD, disable="kling-v3", default="veo-3.1", actor_id=MOD)

    rules = await admin.rules()
    assert (rules.default_model, rules.disabled_models) == ("veo-3.1", {"kling-v3"})
    [entry] = await admin.service.audit(GUILD)
    assert entry.after == {"default_model": "veo-3.1", "disabled_models": ["kling-v3"]}


async def test_a_model_turned_off_cant_be_the_default(admin: Admin) -> None:
    await admin.service.set_models(GUILD, disable="veo-3.1", actor_id=MOD)

    with pytest.raises(RequestValidationError, match="turned off in this server, so it can't be the default"):
        await admin.service.set_models(GUILD, default="veo-3.1", actor_id=MOD)

    await admin.service.set_models(GUILD, enable="veo-3.1", default="veo-3.1", actor_id=MOD)
    assert (await admin.rules()).default_model == "veo-3.1"


async def test_the_last_model_on_cant_be_turned_off(db: Database) -> None:
    two = ModelTable(replace(spec, enabled=spec.key in ("kling-v3", "veo-3.1")) for spec in load_model_table())
    config = GuildConfigRepository(db, DEFAULTS, clock=lambda: T0)
    await AdminService(config=config, renders=RenderRepository(db), models=two, default_model="kling-v3").set_models(
        GUILD, default="veo-3.1", actor_id=MOD
    )
    # The operator's table later drops the server's default, so it no longer protects the one model left on.
    one = ModelTable(replace(spec, enabled=spec.key == "kling-v3") for spec in two)
    service = AdminService(config=config, renders=RenderRepository(db), models=one, default_model="kling-v3")

    with pytest.raises(RequestValidationError, match=r"Kling 3\.0 .* is the last model on in this server"):
        await service.set_models(GUILD, disable="kling-v3", actor_id=MOD)

    state = await service.models(GUILD)
    assert (state.default, state.default_offered) == ("veo-3.1", False)
    assert [(m.spec.key, m.on) for m in state.models] == [("kling-v3", True)]


@pytest.mark.parametrize("option", ["enable", "disable", "default"])
async def test_an_unknown_model_is_refused_naming_the_option_and_the_models(admin: Admin, option: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        await admin.service.set_models(GUILD, actor_id=MOD, **{option: "sora-9"})  # type: ignore[arg-type]

    assert refused.value.option == option
    assert "`sora-9` is not a model this bot offers" in refused.value.message
    assert "`kling-v3`" in refused.value.message
    assert await admin.audit_actions() == []


async def test_a_model_the_operator_turned_off_is_unknown_here(db: Database) -> None:
    table = ModelTable(replace(spec, enabled=spec.key != "vidu-q3") for spec in load_model_table())
    service = AdminService(
        config=GuildConfigRepository(db, DEFAULTS), renders=RenderRepository(db), models=table, default_model="kling-v3"
    )

    with pytest.raises(RequestValidationError, match="`vidu-q3` is not a model this bot offers"):
        await service.set_models(GUILD, default="vidu-q3", actor_id=MOD)


async def test_enable_and_disable_of_the_same_model_is_refused(admin: Admin) -> None:
    with pytest.raises(RequestValidationError, match=r"both name Veo 3\.1"):
        await admin.service.set_models(GUILD, enable="veo-3.1", disable="veo-3.1", actor_id=MOD)


async def test_enabling_a_model_already_on_writes_nothing(admin: Admin) -> None:
    changes = await admin.service.set_models(GUILD, enable="veo-3.1", actor_id=MOD)

    assert not any(c.changed for c in changes)
    assert await admin.audit_actions() == []


async def test_channels_whose_default_model_is_off_are_pointed_out(admin: Admin) -> None:
    await admin.service.set_channel_defaults(GUILD, CHANNEL, model="veo-3.1", actor_id=MOD)
    await admin.service.set_channel_defaults(GUILD, CHANNEL + 1, model="wan-2.6", actor_id=MOD)

    await admin.service.set_models(GUILD, disable="veo-3.1", actor_id=MOD)

    assert (await admin.service.models(GUILD)).stranded_channels == {CHANNEL: "veo-3.1"}


# ---- approvals ---------------------------------------------------------------------------------------------


async def test_approvals_set_rules_and_moderator_channel(admin: Admin) -> None:
    changes = await admin.service.set_approvals(
        GUILD, enabled=True, pro_mode=True, min_duration=10, moderator_channel_id=MOD_CHANNEL, actor_id=MOD
    )

    rules = await admin.rules()
    assert rules.approval == ApprovalRules(enabled=True, pro_mode=True, min_duration=10)
    assert rules.moderator_channel_id == MOD_CHANNEL
    assert [c.setting for c in changes if c.changed] == [
        "approval.enabled",
        "approval.pro_mode",
        "approval.min_duration",
        "moderator_channel_id",
    ]


async def test_approval_threshold_zero_turns_it_off(admin: Admin) -> None:
    await admin.service.set_approvals(GUILD, enabled=True, min_cost=20, actor_id=MOD)

    await admin.service.set_approvals(GUILD, min_cost=0, actor_id=MOD)

    assert (await admin.rules()).approval == ApprovalRules(enabled=True)


# ---- reports -----------------------------------------------------------------------------------------------


async def test_audit_keeps_who_what_before_and_after(admin: Admin) -> None:
    await admin.service.set_budget(GUILD, daily=100, actor_id=MOD)

    [entry] = await admin.service.audit(GUILD)

    assert (entry.actor_id, entry.action, entry.target) == (MOD, "budget.set", "guild")
    assert entry.before == {"daily_budget": None, "monthly_budget": None}
    assert entry.after == {"daily_budget": 100, "monthly_budget": None}
    assert entry.created_at == T0


async def test_audit_lists_newest_first(admin: Admin) -> None:
    await admin.service.ban(GUILD, USER, None, actor_id=MOD)
    await admin.service.set_paused(GUILD, True, actor_id=MOD)

    assert [e.action for e in await admin.service.audit(GUILD)] == ["pause.set", "member.ban"]


async def test_queue_lists_unfinished_renders_only(admin: Admin) -> None:
    [running] = await add_render(admin.renders)
    [failed] = await add_render(admin.renders)
    await admin.renders.move(failed.id, RenderState.FAILED, now=T0)

    assert [r.id for r in await admin.service.queue(GUILD)] == [running.id]


async def test_usage_covers_every_day_and_leaves_refunds_out(admin: Admin) -> None:
    await add_render(admin.renders, cost=5, now=T0 - timedelta(days=2))
    await add_render(admin.renders, cost=10, user_id=OTHER_USER)
    [refunded] = await add_render(admin.renders, cost=7)
    await admin.renders.move(refunded.id, RenderState.FAILED, now=T0)
    await add_render(admin.renders, cost=99, now=T0 - timedelta(days=7))  # outside the 7 days

    report = await admin.service.usage(GUILD, 7)

    assert [(d.day, d.credits) for d in report.by_day] == [
        (date(2026, 11, 18), 0),
        (date(2026, 11, 19), 0),
        (date(2026, 11, 20), 0),
        (date(2026, 11, 21), 0),
        (date(2026, 11, 22), 5),
        (date(2026, 11, 23), 0),
        (date(2026, 11, 24), 10),
    ]
    assert [(m.user_id, m.credits, m.renders) for m in report.by_member] == [(OTHER_USER, 10, 1), (USER, 5, 1)]
    assert (report.total_credits, report.total_renders) == (15, 2)


async def test_usage_period_other_than_7_or_30_is_refused(admin: Admin) -> None:
    with pytest.raises(RequestValidationError):
        await admin.service.usage(GUILD, 10)
