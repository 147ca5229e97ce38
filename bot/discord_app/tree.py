"""The command tree with the bot's one error handler: every failure becomes one short, ephemeral reply."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord_app import flows
from bot.discord_app.ui import text
from bot.domain.errors import UserFacingError

log = logging.getLogger(__name__)


class VideoCommandTree(app_commands.CommandTree):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, UserFacingError):
            message = original.message
        elif isinstance(error, app_commands.MissingPermissions):
            needed = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
            message = f"You need the **{needed}** permission to use this command."
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = text.GUILD_ONLY
        elif isinstance(error, app_commands.TransformerError):
            message = f"`{error.value}` isn't a valid value here; pick one of the offered choices."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "command %s failed for user %s in guild %s",
                command,
                interaction.user.id,
                interaction.guild_id,
                exc_info=original,
            )
            message = text.INTERNAL_ERROR
        await flows.reply_safely(interaction, message)
