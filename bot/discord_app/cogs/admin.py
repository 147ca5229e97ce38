"""`/videoadmin`: the moderators' toolkit. Handlers parse options, call `AdminService`, and render its answer.

Discord hides the group from members without Manage Server (`default_permissions`), but a server can change that
and an interaction can be crafted, so `interaction_check` checks the permission Discord computed for this member
in this channel again, before any command runs.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import flows
from bot.discord_app.context import AppContext, client_context
from bot.discord_app.model_choices import model_choices, offer_choices
from bot.discord_app.ui import admin_text
from bot.discord_app.ui.usage_chart import usage_chart
from bot.domain.errors import UserFacingError
from bot.domain.quota_types import Requester
from bot.services.admin import (
    MAX_COOLDOWN_SECONDS,
    MAX_CREDITS,
    MAX_IN_FLIGHT,
    MAX_NEW_MEMBER_DAYS,
    AdminService,
    parse_credits,
)

log = logging.getLogger(__name__)

Credits = app_commands.Range[int, 0, MAX_CREDITS]
Target = discord.Member | discord.Role
NO_MODEL = "none"  # the `model` choice of /videoadmin defaults that removes the channel's own default model


class NotAModerator(app_commands.CheckFailure, UserFacingError):
    """A /videoadmin interaction from a member without Manage Server; its message is the reply."""

    def __init__(self, message: str) -> None:
        UserFacingError.__init__(self, message)


def member_requester(member: discord.Member | discord.User) -> Requester:
    """A member the moderator named, as the quota policy sees them (their roles decide their daily credits)."""
    roles = frozenset(role.id for role in getattr(member, "roles", ()) if not role.is_default())
    return Requester(user_id=member.id, role_ids=roles, joined_at=getattr(member, "joined_at", None))


def _channel_id(interaction: discord.Interaction, channel: discord.abc.GuildChannel | None) -> int:
    if channel is not None:
        return channel.id
    assert interaction.channel_id is not None
    return interaction.channel_id


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(
    commands.GroupCog,
    group_name="videoadmin",
    group_description="Moderators: video credits, budgets, models, channels, approvals and the kill switch",
):
    quota = app_commands.Group(name="quota", description="Daily video credits of members and roles")
    channels = app_commands.Group(name="channels", description="Which channels may generate videos")

    def __init__(self, context: AppContext) -> None:
        self.context = context
        services = context.services
        self.admin = AdminService(
            config=services.config,
            renders=services.renders,
            models=services.models,
            default_model=services.settings.default_model,
            now=services.clock,
            wake_tracker=services.tracker.wake,
        )
        super().__init__()
        models = model_choices(services.models)
        for option in ("enable", "disable", "default"):
            offer_choices(self.models, option, models)
        offer_choices(
            self.defaults, "model", [app_commands.Choice(name=admin_text.NO_CHANNEL_MODEL, value=NO_MODEL), *models]
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            command = interaction.command.qualified_name if interaction.command else "videoadmin"
            log.warning(
                "user %s without Manage Server tried /%s in guild %s",
                interaction.user.id,
                command,
                interaction.guild_id,
            )
            raise NotAModerator(admin_text.NEEDS_MANAGE_SERVER)
        return True

    @staticmethod
    async def _start(interaction: discord.Interaction) -> tuple[int, int]:
        """Defer (replies are ephemeral) and return (guild id, moderator id)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        return interaction.guild_id, interaction.user.id

    # ---- quota -----------------------------------------------------------------------------------------------

    @quota.command(name="set")
    @app_commands.describe(
        target="The member or role", daily_credits="Credits per UTC day (a member override beats every role)"
    )
    async def quota_set(self, interaction: discord.Interaction, target: Target, daily_credits: Credits) -> None:
        """Set the daily credits of a member or a role"""
        guild_id, actor = await self._start(interaction)
        if isinstance(target, discord.Role):
            change = await self.admin.set_role_quota(guild_id, target.id, daily_credits, actor_id=actor)
        else:
            change = await self.admin.set_member_quota(guild_id, target.id, daily_credits, actor_id=actor)
        await flows.reply(interaction, admin_text.target_quota_set(target.mention, change))

    @quota.command(name="clear")
    @app_commands.describe(target="The member or role whose own daily credits to remove")
    async def quota_clear(self, interaction: discord.Interaction, target: Target) -> None:
        """Remove a member's or role's daily credits override (back to their roles or the server default)"""
        guild_id, actor = await self._start(interaction)
        if isinstance(target, discord.Role):
            change = await self.admin.set_role_quota(guild_id, target.id, None, actor_id=actor)
        else:
            change = await self.admin.set_member_quota(guild_id, target.id, None, actor_id=actor)
        await flows.reply(interaction, admin_text.target_quota_set(target.mention, change))

    @quota.command(name="show")
    @app_commands.describe(target="A member or role; leave out to see the whole server's rules")
    async def quota_show(self, interaction: discord.Interaction, target: Target | None = None) -> None:
        """Show a member's or role's credits, or the server's rules"""
        guild_id, _ = await self._start(interaction)
        if target is None:
            message = admin_text.server_overview(await self.admin.overview(guild_id))
        elif isinstance(target, discord.Role):
            message = admin_text.role_quota(await self.admin.role_quota(guild_id, target.id))
        else:
            message = admin_text.member_quota(await self.admin.member_quota(guild_id, member_requester(target)))
        await flows.reply(interaction, message)

    @quota.command(name="grant")
    @app_commands.describe(member="Who gets them", credits="Extra credits, for today (UTC) only")
    async def quota_grant(
        self, interaction: discord.Interaction, member: discord.Member, credits: app_commands.Range[int, 1, MAX_CREDITS]
    ) -> None:
        """Give a member extra credits for today"""
        guild_id, actor = await self._start(interaction)
        before, after = await self.admin.grant(guild_id, member_requester(member), credits, actor_id=actor)
        await flows.reply(
            interaction,
            admin_text.GRANTED.format(
                credits=credits,
                user=member.mention,
                before=admin_text.credits(before.left),
                after=admin_text.credits(after.left),
            ),
        )

    @quota.command(name="reset")
    @app_commands.describe(member="Whose credits to give back for today")
    async def quota_reset(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Give a member their whole daily allowance back for today"""
        guild_id, actor = await self._start(interaction)
        before, after = await self.admin.reset(guild_id, member_requester(member), actor_id=actor)
        if before.left == after.left:
            message = admin_text.RESET_UNCHANGED.format(user=member.mention, left=admin_text.credits(after.left))
        else:
            message = admin_text.RESET.format(
                user=member.mention, before=admin_text.credits(before.left), after=admin_text.credits(after.left)
            )
        await flows.reply(interaction, message)

    # ---- server-wide limits ----------------------------------------------------------------------------------

    @app_commands.command(name="budget")
    @app_commands.describe(
        daily="Credits the whole server may spend per UTC day (0 = no daily budget)",
        monthly="Credits the whole server may spend per calendar month (0 = no monthly budget)",
    )
    async def budget(
        self, interaction: discord.Interaction, daily: Credits | None = None, monthly: Credits | None = None
    ) -> None:
        """Set the server's daily and monthly video budget (moderators are alerted at 50/80/100 %)"""
        guild_id, actor = await self._start(interaction)
        changes = await self.admin.set_budget(guild_id, daily=daily, monthly=monthly, actor_id=actor)
        overview = await self.admin.overview(guild_id)
        lines = "\n".join(admin_text.change_line(c) for c in changes)
        if daily is None and monthly is None:
            message = admin_text.NOTHING_GIVEN.format(current=lines)
        else:
            message = admin_text.changes_reply(changes)
        budgeted = overview.rules.daily_budget is not None or overview.rules.monthly_budget is not None
        if budgeted and overview.rules.moderator_channel_id is None:
            message += admin_text.NO_MOD_CHANNEL_HINT
        await flows.reply(interaction, message)

    @app_commands.command(name="limits")
    @app_commands.describe(
        default_daily_credits="Daily credits of members without a role or member override: a number or 'unlimited'",
        max_in_flight="Renders one member may have in flight at once (0 = no cap)",
        cooldown_seconds="Seconds a member waits between two requests (0 = none)",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        default_daily_credits: app_commands.Range[str, 1, 20] | None = None,
        max_in_flight: app_commands.Range[int, 0, MAX_IN_FLIGHT] | None = None,
        cooldown_seconds: app_commands.Range[int, 0, MAX_COOLDOWN_SECONDS] | None = None,
    ) -> None:
        """Set the member limits: default daily credits, renders in flight, cooldown"""
        guild_id, actor = await self._start(interaction)
        daily = parse_credits("default_daily_credits", default_daily_credits) if default_daily_credits else None
        if daily is None and max_in_flight is None and cooldown_seconds is None:
            overview = await self.admin.overview(guild_id)
            await flows.reply(
                interaction, admin_text.NOTHING_GIVEN.format(current=admin_text.server_overview(overview))
            )
            return
        changes = await self.admin.set_limits(
            guild_id,
            max_in_flight=max_in_flight,
            cooldown_seconds=cooldown_seconds,
            default_daily_credits=daily,
            actor_id=actor,
        )
        await flows.reply(interaction, admin_text.changes_reply(changes))

    @app_commands.command(name="exempt")
    @app_commands.describe(action="add or remove the role", role="Members with this role skip member limits")
    async def exempt(
        self, interaction: discord.Interaction, action: Literal["add", "remove"], role: discord.Role
    ) -> None:
        """Exempt a role from member limits and approval (server budgets still apply)"""
        guild_id, actor = await self._start(interaction)
        adding = action == "add"
        change = await self.admin.set_exempt(guild_id, role.id, adding, actor_id=actor)
        line = admin_text.change_line(change)
        if not change.changed:
            message = admin_text.EXEMPT_UNCHANGED.format(role=role.mention, state="is already" if adding else "isn't")
        elif adding:
            message = admin_text.EXEMPT_ADDED.format(role=role.mention, changes=line)
        else:
            message = admin_text.EXEMPT_REMOVED.format(role=role.mention, changes=line)
        await flows.reply(interaction, message)

    @app_commands.command(name="ban")
    @app_commands.describe(member="Who may no longer generate videos here", reason="Kept in the audit log")
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        """Stop a member from generating videos in this server"""
        guild_id, actor = await self._start(interaction)
        stopped = await self.admin.ban(guild_id, member.id, reason, actor_id=actor)
        shown = f" ({admin_text.escape(reason)})" if reason else ""
        message = admin_text.BANNED.format(user=member.mention, reason=shown)
        await flows.reply(interaction, message + admin_text.refunded(len(stopped.refunded), stopped.refunded_credits))

    @app_commands.command(name="unban")
    @app_commands.describe(member="Who may generate videos again")
    async def unban(self, interaction: discord.Interaction, member: discord.User) -> None:
        """Let a banned member generate videos again"""
        guild_id, actor = await self._start(interaction)
        change = await self.admin.unban(guild_id, member.id, actor_id=actor)
        template = admin_text.UNBANNED if change.changed else admin_text.NOT_BANNED
        await flows.reply(interaction, template.format(user=member.mention))

    # ---- channels --------------------------------------------------------------------------------------------

    async def _set_access(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None,
        access: Literal["allow", "deny"] | None,
    ) -> None:
        guild_id, actor = await self._start(interaction)
        channel_id = _channel_id(interaction, channel)
        change = await self.admin.set_channel_access(guild_id, channel_id, access, actor_id=actor)
        rules = await self.admin.channel_rules(guild_id)
        await flows.reply(interaction, admin_text.channel_access_changed(channel_id, change, rules))

    @channels.command(name="allow")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Allow video generation in a channel (once any is allowed, only allowed channels work)"""
        await self._set_access(interaction, channel, "allow")

    @channels.command(name="deny")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_deny(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        """Turn video generation off in a channel"""
        await self._set_access(interaction, channel, "deny")

    @channels.command(name="clear")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_clear(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Remove a channel's allow or deny"""
        await self._set_access(interaction, channel, None)

    @channels.command(name="list")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        """Show where video generation works"""
        guild_id, _ = await self._start(interaction)
        rules = await self.admin.channel_rules(guild_id)
        await flows.reply(interaction, f"Video generation works in: {admin_text.channel_access(rules)}.")

    @app_commands.command(name="defaults")
    @app_commands.describe(
        channel="The channel (default: this one)",
        model="Default model (it must be on in this server); None goes back to the server's default",
        mode="Default quality mode",
        duration="Default length in seconds (a model that can't make it uses its own default)",
        aspect_ratio="Default shape (a model that can't make it uses its own default)",
        negative_prompt="Default negative prompt (type none to remove it)",
        sound="Native audio by default, for models that make it",
        thread_per_request="Open a thread for each request",
        clear="Remove every default of the channel first",
    )
    async def defaults(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        model: str | None = None,
        mode: Literal["std", "pro"] | None = None,
        duration: app_commands.Range[int, 1, 16] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"] | None = None,
        negative_prompt: app_commands.Range[str, 1, 2500] | None = None,
        sound: bool | None = None,
        thread_per_request: bool | None = None,
        clear: bool | None = None,
    ) -> None:
        """Set a channel's defaults for /video generate (options members leave out)"""
        guild_id, actor = await self._start(interaction)
        channel_id = _channel_id(interaction, channel)
        given = (model, mode, duration, aspect_ratio, negative_prompt, sound, thread_per_request)
        if all(option is None for option in given) and not clear:
            defaults = await self.admin.channel_defaults(guild_id, channel_id)
            await flows.reply(interaction, admin_text.channel_defaults(channel_id, defaults))
            return
        if negative_prompt is not None and negative_prompt.strip().lower() == "none":
            negative_prompt = ""
        changes = await self.admin.set_channel_defaults(
            guild_id,
            channel_id,
            mode=mode,
            duration=duration,
            aspect_ratio=aspect_ratio,
            negative_prompt=negative_prompt,
            thread_per_request=thread_per_request,
            model="" if model == NO_MODEL else model,
            sound=sound,
            clear=bool(clear),
            actor_id=actor,
        )
        await flows.reply(interaction, f"<#{channel_id}>: " + admin_text.changes_reply(changes))

    # ---- models ----------------------------------------------------------------------------------------------

    @app_commands.command(name="models")
    @app_commands.describe(
        enable="Let members of this server pick this model again",
        disable="Stop members of this server from picking this model",
        default="The model used when a member picks none (the channel's default model comes first)",
    )
    async def models(
        self,
        interaction: discord.Interaction,
        enable: str | None = None,
        disable: str | None = None,
        default: str | None = None,
    ) -> None:
        """Turn video models on or off in this server, and choose its default model"""
        guild_id, actor = await self._start(interaction)
        if enable is None and disable is None and default is None:
            await flows.reply(interaction, admin_text.server_models(await self.admin.models(guild_id)))
            return
        changes = await self.admin.set_models(guild_id, enable=enable, disable=disable, default=default, actor_id=actor)
        await flows.reply(interaction, admin_text.models_reply(changes, await self.admin.models(guild_id)))

    # ---- what is going on ------------------------------------------------------------------------------------

    @app_commands.command(name="queue")
    async def queue(self, interaction: discord.Interaction) -> None:
        """List the renders in flight in this server"""
        guild_id, _ = await self._start(interaction)
        renders = await self.admin.queue(guild_id)
        await flows.reply(interaction, admin_text.queue(renders, self.context.services.clock()))

    @app_commands.command(name="usage")
    @app_commands.describe(period="How many days back, today included")
    async def usage(self, interaction: discord.Interaction, period: Literal[7, 30] = 7) -> None:
        """See credits spent per member and per day, with a chart"""
        guild_id, _ = await self._start(interaction)
        report = await self.admin.usage(guild_id, period)
        message = admin_text.usage(report)
        if report.total_renders == 0:
            await flows.reply(interaction, message)
            return
        title = f"Credits per day, last {period} days (UTC)"
        # Drawing is CPU work: off the event loop, so other interactions are answered meanwhile.
        png = await asyncio.to_thread(usage_chart, report.by_day, title=title)
        chart = discord.File(io.BytesIO(png), filename=admin_text.CHART_NAME)
        await interaction.edit_original_response(
            content=message, attachments=[chart], allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(name="audit")
    @app_commands.describe(count="How many changes to show (newest first)")
    async def audit(self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10) -> None:
        """Recent changes to these settings: who, what, before → after, when"""
        guild_id, _ = await self._start(interaction)
        await flows.reply(interaction, admin_text.audit(await self.admin.audit(guild_id, count)))

    # ---- kill switch and approvals ---------------------------------------------------------------------------

    @app_commands.command(name="pause")
    async def pause(self, interaction: discord.Interaction) -> None:
        """Kill switch: stop all new video requests in this server"""
        guild_id, actor = await self._start(interaction)
        stopped = await self.admin.set_paused(guild_id, True, actor_id=actor)
        message = admin_text.PAUSED if stopped.change.changed else admin_text.ALREADY_PAUSED
        await flows.reply(interaction, message + admin_text.refunded(len(stopped.refunded), stopped.refunded_credits))

    @app_commands.command(name="resume")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Turn video generation back on after a pause"""
        guild_id, actor = await self._start(interaction)
        stopped = await self.admin.set_paused(guild_id, False, actor_id=actor)
        await flows.reply(interaction, admin_text.RESUMED if stopped.change.changed else admin_text.ALREADY_RUNNING)

    @app_commands.command(name="approvals")
    @app_commands.describe(
        enabled="Hold matching requests until a moderator approves them",
        pro_mode="Hold every pro (1080p) request",
        min_duration="Hold requests this many seconds or longer (0 = off)",
        min_cost="Hold requests costing this many credits or more (0 = off)",
        new_member_days="Hold image inputs from members who joined less than this many days ago (0 = off)",
        channel="Moderator channel: approval requests and spend alerts are posted there",
    )
    async def approvals(
        self,
        interaction: discord.Interaction,
        enabled: bool | None = None,
        pro_mode: bool | None = None,
        min_duration: app_commands.Range[int, 0, 15] | None = None,
        min_cost: Credits | None = None,
        new_member_days: app_commands.Range[int, 0, MAX_NEW_MEMBER_DAYS] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Choose which requests need a moderator's approval, and the moderator channel"""
        guild_id, actor = await self._start(interaction)
        changes = await self.admin.set_approvals(
            guild_id,
            enabled=enabled,
            pro_mode=pro_mode,
            min_duration=min_duration,
            min_cost=min_cost,
            new_member_days=new_member_days,
            moderator_channel_id=channel.id if channel else None,
            actor_id=actor,
        )
        lines = "\n".join(admin_text.change_line(c) for c in changes)
        given = (enabled, pro_mode, min_duration, min_cost, new_member_days, channel)
        if all(option is None for option in given):
            await flows.reply(interaction, admin_text.NOTHING_GIVEN.format(current=lines))
            return
        await flows.reply(interaction, admin_text.changes_reply(changes))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AdminCog(client_context(bot)))
