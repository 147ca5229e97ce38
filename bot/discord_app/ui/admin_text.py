"""Everything `/videoadmin` says to moderators: settings with their before → after, quotas, queue, usage, audit.

Settings are named and shown as `bot.domain.settings_catalog.SETTINGS` describes them (label, the word for "no
value", and what kind of value it is); this module only says how each kind of value looks on Discord.

Mentions are used freely (`<@id>`, `<@&id>`, `<#id>`): every reply goes out with no allowed mentions, so they
render as names and notify nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import discord

from bot.discord_app.ui.status import describe_settings
from bot.discord_app.ui.text import STATE_TITLES, ts
from bot.domain.quota_types import ApprovalRules, GuildRules
from bot.domain.render import RenderRecord
from bot.domain.request import ChannelDefaults
from bot.domain.settings_catalog import CHANNEL_PREFIX, SETTINGS, Scope, Setting, Show
from bot.domain.states import RenderState
from bot.services.admin import (
    Change,
    MemberQuota,
    QuotaSource,
    RoleQuota,
    ServerModels,
    ServerOverview,
    UsageReport,
)
from bot.storage.config import AuditEntry

MESSAGE_LIMIT = 1900  # Discord's 2000, with room for the "…and N more" line

NEEDS_MANAGE_SERVER = "Only members with the **Manage Server** permission can use `/videoadmin`. Nothing was changed."
NOTHING_GIVEN = "Nothing to change: give at least one option. Current settings:\n{current}"
NOTHING_CHANGED = "Nothing changed: those were already the settings.\n{current}"
UPDATED = "Updated (written to the audit log):\n{changes}"
NO_MOD_CHANNEL_HINT = (
    "\nNote: no moderator channel is set, so spend alerts go nowhere. Set one with `/videoadmin approvals channel:`."
)
PAUSED = (
    "⏸️ Video generation is now **paused** in this server: new requests are refused with a short note, and "
    "approvals wait. Renders already sent to ModelStream finish. Use `/videoadmin resume` to turn it back on."
)
ALREADY_PAUSED = "Video generation was already paused. Use `/videoadmin resume` to turn it back on."
RESUMED = "▶️ Video generation is **running** again in this server."
ALREADY_RUNNING = "Video generation wasn't paused; nothing changed."
BANNED = "{user} can no longer generate videos in this server{reason}. Undo with `/videoadmin unban`."
UNBANNED = "{user} may generate videos again."
NOT_BANNED = "{user} wasn't banned; nothing changed."


def refunded(count: int, credits: int) -> str:
    """The line a pause or a ban adds about the `count` renders it stopped before they reached ModelStream."""
    if not count:
        return ""
    return (
        f"\n{count} render{'s' if count != 1 else ''} not yet sent to ModelStream "
        f"{'were' if count != 1 else 'was'} stopped and **{credits} credits** refunded; "
        "each status message says why."
    )


EXEMPT_ADDED = "{role} is now exempt from member limits and approval (server budgets still apply).\n{changes}"
EXEMPT_REMOVED = "{role} is no longer exempt.\n{changes}"
EXEMPT_UNCHANGED = "Nothing changed: {role} {state} exempt."
GRANTED = "Granted **{credits}** extra credits to {user} for today (UTC).\nCredits left today: {before} → **{after}**."
RESET = "{user}'s credits for today are back.\nCredits left today: {before} → **{after}**."
RESET_UNCHANGED = "{user} already had their whole allowance for today: **{left}** credits left. Nothing to give back."
QUEUE_EMPTY = "No renders in flight in this server."
AUDIT_EMPTY = "No changes recorded yet."
USAGE_EMPTY = "No credits were spent in the last {days} days."
CHART_NAME = "usage.png"
NO_CHANNEL_MODEL = "None: use the server's default model"


def escape(text: str) -> str:
    """Text a moderator typed, echoed back: no markdown tricks, no mention syntax."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def fit(lines: list[str], limit: int = MESSAGE_LIMIT) -> str:
    """Join lines, dropping the tail (and saying how many) so the message stays within Discord's limit."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) + 1 > limit:
            kept.append(f"…and {len(lines) - index} more.")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _quoted(raw: Any) -> str:
    shown = escape(str(raw))
    return f"“{shown[:60]}…”" if len(shown) > 60 else f"“{shown}”"


def _approval(raw: Any) -> str:
    return approval_rules(raw) if isinstance(raw, ApprovalRules) else str(raw)


# How each kind of value looks (None and booleans are handled before these).
_SHOWN: dict[Show, Callable[[Any], str]] = {
    Show.PLAIN: lambda raw: str(getattr(raw, "value", raw)),
    Show.SECONDS: lambda raw: f"{raw} s" if raw else "none",
    Show.ROLES: lambda raw: ", ".join(f"<@&{role}>" for role in sorted(raw)) or "none",
    Show.CHANNEL: lambda raw: f"<#{raw}>",
    Show.QUOTED: _quoted,
    Show.MODEL: lambda raw: f"`{raw}`",
    Show.MODELS: lambda raw: ", ".join(f"`{key}`" for key in sorted(raw)) or "none",
    Show.APPROVAL: _approval,
}
_UNKNOWN = Setting("?", "?")  # a key no entry describes (an old audit row): shown plainly


def value(setting: str, raw: Any) -> str:
    """One setting's value as a moderator reads it."""
    entry = SETTINGS.get(setting) or _UNKNOWN
    if raw is None or raw == "":
        return entry.none
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    return _SHOWN[entry.show](raw)


def change_line(change: Change) -> str:
    label = SETTINGS.label(change.setting)
    if not change.changed:
        return f"• {label}: {value(change.setting, change.after)} (unchanged)"
    return f"• {label}: {value(change.setting, change.before)} → **{value(change.setting, change.after)}**"


def changes_reply(changes: list[Change], current: str = "") -> str:
    """The reply to a settings command: what changed (before → after), or that nothing did."""
    lines = "\n".join(change_line(c) for c in changes)
    if not any(c.changed for c in changes):
        return NOTHING_CHANGED.format(current=lines)
    return UPDATED.format(changes=lines) + current


def target_quota_set(target: str, change: Change) -> str:
    if not change.changed:
        return f"Nothing changed: {target} already had {value(change.setting, change.after)}."
    before, after = value(change.setting, change.before), value(change.setting, change.after)
    return f"Daily credits of {target}: {before} → **{after}**."


def credits(amount: int | None) -> str:
    return "unlimited" if amount is None else str(amount)


def member_quota(quota: MemberQuota) -> str:
    user = f"<@{quota.user_id}>"
    source = {
        QuotaSource.EXEMPT: "exempt role: no member limits",
        QuotaSource.MEMBER: "member override",
        QuotaSource.ROLE: f"from role <@&{quota.source_role_id}>",
        QuotaSource.DEFAULT: "server default",
    }[quota.source]
    lines = [
        f"**{user}**: daily credits **{credits(quota.limit)}** ({source}).",
        f"Used today: {quota.used_today} · granted today: {quota.granted_today} · "
        f"left: **{credits(quota.left)}** · resets {ts(quota.resets_at)}.",
        f"Renders in flight: {quota.in_flight}.",
    ]
    if quota.banned:
        lines.append("⛔ Banned from generating videos in this server.")
    return "\n".join(lines)


def role_quota(quota: RoleQuota) -> str:
    role = f"<@&{quota.role_id}>"
    if quota.override is None:
        line = f"**{role}**: no override; its members get the server default ({credits(quota.default)})."
    else:
        line = (
            f"**{role}**: daily credits **{quota.override}** (server default {credits(quota.default)}; "
            "a member with several roles gets the most generous)."
        )
    if quota.exempt:
        line += "\nThis role is **exempt**: no member limits and no approval."
    return line


def approval_rules(rules: ApprovalRules) -> str:
    if not rules.enabled:
        return "off"
    parts = []
    if rules.pro_mode:
        parts.append("every pro request")
    if rules.min_duration is not None:
        parts.append(f"{rules.min_duration} s or longer")
    if rules.min_cost is not None:
        parts.append(f"{rules.min_cost} credits or more")
    if rules.image_inputs_new_member_days is not None:
        parts.append(f"image inputs from members who joined less than {rules.image_inputs_new_member_days} days ago")
    return "on, holding " + ", ".join(parts) if parts else "on, but no rule set (nothing is held)"


def server_overview(overview: ServerOverview) -> str:
    """The server's rules: every guild setting of the catalog, with what was spent against the budgets."""
    rules = overview.rules
    role_overrides = ", ".join(f"<@&{role}> {daily}" for role, daily in sorted(rules.role_daily_credits.items()))
    spent = {
        "daily_budget": budget(rules.daily_budget, overview.spent_today, "today"),
        "monthly_budget": budget(rules.monthly_budget, overview.spent_month, "this month"),
    }
    lines = [
        "**Server rules**",
        f"Generation: {'**paused**' if rules.paused else 'running'}",
        f"Role overrides: {role_overrides or 'none'}",
        f"Member overrides: {len(rules.member_daily_credits)}",
        f"Banned members: {len(rules.banned_user_ids)}",
        f"Channels: {channel_access(rules)}",
    ]
    for setting in SETTINGS.of(Scope.GUILD):
        if setting.overview:
            shown = spent.get(setting.key) or value(setting.key, getattr(rules, setting.field))
            lines.append(f"{setting.label}: {shown}")
    return "\n".join(lines)


def budget(limit: int | None, spent: int, period: str) -> str:
    if limit is None:
        return f"none ({spent} credits used {period})"
    return f"{limit} ({spent} used {period}, {max(0, limit - spent)} left)"


def channel_access(rules: GuildRules) -> str:
    allowed = " ".join(f"<#{c}>" for c in sorted(rules.allowed_channel_ids))
    denied = " ".join(f"<#{c}>" for c in sorted(rules.denied_channel_ids))
    parts = [f"only {allowed}" if allowed else "every channel"]
    if denied:
        parts.append(f"except {denied}")
    return " ".join(parts)


def channel_access_changed(channel_id: int, change: Change, rules: GuildRules) -> str:
    now = {"allow": "allowed", "deny": "denied", None: "back to the default"}[change.after]
    if not change.changed:
        return f"Nothing changed: <#{channel_id}> was already {now}.\nGeneration works in: {channel_access(rules)}."
    note = ""
    if change.after == "allow" and len(rules.allowed_channel_ids) == 1:
        note = "\nOnce any channel is allowed, video generation works **only** in allowed channels."
    return f"<#{channel_id}> is now {now}.{note}\nGeneration works in: {channel_access(rules)}."


def channel_defaults(channel_id: int, defaults: ChannelDefaults) -> str:
    lines = [f"**Defaults in <#{channel_id}>** (used when a member leaves the option out):"]
    for setting in SETTINGS.of(Scope.CHANNEL):
        lines.append(f"• {setting.label}: {value(setting.key, getattr(defaults, setting.field))}")
    return "\n".join(lines)


def server_models(state: ServerModels) -> str:
    """Each model the bot offers: on or off in this server, the default marked; then what needs attention."""
    lines = ["**Models in this server** (members pick one with `model:`; the default is used when they don't):"]
    for model in state.models:
        marks = ["on" if model.on else "**off**"]
        if model.default:
            marks.append("⭐ **default**")
        lines.append(f"• {model.spec.name} (`{model.spec.key}`): {' · '.join(marks)}")
    if state.default_inherited:
        lines.append(f"Default: `{state.default}`, the bot's own (set this server's with `default:`).")
    if not state.default_offered:
        lines.append(
            f"⚠️ The default `{state.default}` is no longer offered by the bot: members must pick a model until you "
            "set another default (`default:`)."
        )
    for channel, key in sorted(state.stranded_channels.items()):
        lines.append(
            f"⚠️ <#{channel}> uses `{key}` as its default, which is off here: members there get the server's "
            "default instead (change it with `/videoadmin defaults`)."
        )
    return fit(lines)


def models_reply(changes: list[Change], state: ServerModels) -> str:
    """The reply to `/videoadmin models` with changes: before → after, then the models as they are now."""
    return fit([*changes_reply(changes).splitlines(), "", *server_models(state).splitlines()])


def queue(renders: list[RenderRecord], now: datetime) -> str:
    if not renders:
        return QUEUE_EMPTY
    lines = [f"**{plural(len(renders), 'render')} in flight** (oldest first):"]
    for render in renders:
        state = STATE_TITLES[render.state]
        if render.state is RenderState.RENDERING and render.progress:
            state += f" {render.progress}%"
        lines.append(
            f"• <@{render.user_id}> in <#{render.channel_id}> · {state} · {describe_settings(render.request)} · "
            f"{render.cost} credits · requested {ts(render.created_at)} · `{render.id[:8]}`"
        )
    return fit(lines)


def usage(report: UsageReport) -> str:
    if report.total_renders == 0:
        return USAGE_EMPTY.format(days=report.days)
    lines = [
        f"**Usage over the last {report.days} days** (UTC, refunds excluded): "
        f"**{report.total_credits} credits** in {plural(report.total_renders, 'render')}.",
        "**By member**",
    ]
    lines += [f"• <@{m.user_id}>: {m.credits} credits ({plural(m.renders, 'render')})" for m in report.by_member[:15]]
    if len(report.by_member) > 15:
        lines.append(f"…and {len(report.by_member) - 15} more members.")
    lines.append("**By day**")
    lines += [f"`{d.day.isoformat()}` {d.credits} credits ({d.renders})" for d in report.by_day if d.renders]
    return fit(lines)


# ---- audit log -----------------------------------------------------------------------------------------------

_ACTIONS: dict[str, str] = {
    "member_limit.set": "daily credits of {target}",
    "role_limit.set": "daily credits of {target}",
    "credits.grant": "extra credits for {target}",
    "member.reset": "reset today's credits of {target}",
    "member.ban": "banned {target}",
    "member.unban": "unbanned {target}",
    "channel.access": "access of {target}",
    "channel.defaults": "defaults of {target}",
    "default_daily_credits.set": "default daily credits",
    "budget.set": "server budget",
    "pause.set": "kill switch",
    "approval.set": "approval rules",
    "moderator_channel.set": "moderator channel",
    "limits.set": "member limits",
    "models.set": "the server's models",
}


def audit(entries: list[AuditEntry]) -> str:
    if not entries:
        return AUDIT_EMPTY
    lines = ["**Recent changes** (newest first):"]
    lines += [audit_line(entry) for entry in entries]
    return fit(lines)


def audit_line(entry: AuditEntry) -> str:
    # An action with no phrase of its own (a setting added later) still reads: its changes carry their labels.
    what = _ACTIONS.get(entry.action, "settings of {target}").format(target=_mention(entry.target))
    return f"{ts(entry.created_at, 'f')} <@{entry.actor_id}> {_audit_detail(entry, what)}"


def _audit_detail(entry: AuditEntry, what: str) -> str:
    before, after = entry.before, entry.after
    if entry.action in ("member_limit.set", "role_limit.set"):
        return f"set {what}: {value('member_daily_credits', before)} → {value('member_daily_credits', after)}"
    if entry.action == "credits.grant":
        granted = (after or {}).get("granted", 0) - (before or {}).get("granted", 0)
        return f"granted {granted} {what} ({(after or {}).get('day')})"
    if entry.action == "member.reset":
        return f"{what} ({(before or {}).get('used', 0)} used)"
    if entry.action == "member.ban":
        reason = (after or {}).get("reason")
        return what + (f": {escape(reason)}" if reason else "")
    if entry.action == "member.unban":
        return what
    if entry.action == "channel.access":
        old, new = (before or {}).get("access"), (after or {}).get("access")
        return f"set {what}: {value('channel_access', old)} → {value('channel_access', new)}"
    diffs = _diff(_flatten(before), _flatten(after))
    prefix = CHANNEL_PREFIX if entry.action == "channel.defaults" else ""
    shown = "; ".join(
        f"{SETTINGS.label(prefix + key)} {value(prefix + key, old)} → {value(prefix + key, new)}"
        for key, old, new in diffs
    )
    return f"changed {what}: {shown or 'no difference'}"


def _mention(target: str) -> str:
    kind, _, ident = target.partition(":")
    return {"user": f"<@{ident}>", "role": f"<@&{ident}>", "channel": f"<#{ident}>"}.get(kind, "the server")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"approval": {"enabled": true}} -> {"approval.enabled": true}: nested settings compare key by key."""
    if not isinstance(data, Mapping):
        return {}
    flat: dict[str, Any] = {}
    for key, item in data.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterable[tuple[str, Any, Any]]:
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            yield key, before.get(key), after.get(key)
