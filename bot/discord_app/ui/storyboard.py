"""The multi-shot storyboard: a modal (the command's first response), a preview, then Send.

Nothing is accepted until Send, so these views live in memory only; the slash command's attachments travel
with them and are downloaded at Send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord_app import flows
from bot.discord_app.ui import text
from bot.domain.cost import request_cost
from bot.domain.errors import UserFacingError
from bot.domain.request import AttachmentRef, RawOptions, Shot, VideoRequest
from bot.domain.storyboard import STORYBOARD_PLACEHOLDER, describe_storyboard, parse_storyboard
from bot.domain.validation import attachments_of, validate_options

if TYPE_CHECKING:
    from bot.discord_app.client import VideoBot

OPEN_FOR = 900.0  # seconds; the slash command's attachment URLs outlive this comfortably


class StoryboardDraft:
    """What the member asked for so far: the slash options, the storyboard text, the request once it parses."""

    def __init__(self, owner_id: int, raw: RawOptions) -> None:
        self.owner_id = owner_id
        self.raw = raw
        self.attachments: list[AttachmentRef] = attachments_of(raw)
        self.text = ""
        self.request: VideoRequest | None = None


class StoryboardModal(discord.ui.Modal, title=text.STORYBOARD_TITLE):
    def __init__(self, draft: StoryboardDraft) -> None:
        super().__init__(timeout=OPEN_FOR)
        self.draft = draft
        self.shots: discord.ui.TextInput[StoryboardModal] = discord.ui.TextInput(
            label=text.STORYBOARD_LABEL,
            style=discord.TextStyle.paragraph,
            placeholder=STORYBOARD_PLACEHOLDER,
            default=draft.text or None,
            max_length=4000,
        )
        self.add_item(self.shots)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.draft.text = self.shots.value
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = cast("VideoBot", interaction.client)
        assert interaction.guild_id is not None and interaction.channel_id is not None
        defaults = await bot.services.config.channel_defaults(interaction.guild_id, interaction.channel_id)
        try:
            base = validate_options(self.draft.raw, defaults, model=bot.services.settings.default_model)
            shots = parse_storyboard(self.draft.text, total=self.draft.raw.duration, has_last_frame=False)
        except UserFacingError as error:
            await interaction.edit_original_response(
                content=text.STORYBOARD_FIX.format(error=error.message),
                view=StoryboardReview(self.draft, None),
                allowed_mentions=discord.AllowedMentions.none(),
            )
            return
        request = self.draft.request = base.with_shots(shots)
        cost = request_cost(request, bot.services.settings.cost_rates)
        await interaction.edit_original_response(
            content=text.STORYBOARD_PREVIEW.format(
                count=len(shots),
                plural="" if len(shots) == 1 else "s",
                total=request.duration,
                shots=describe_storyboard(shots),
                cost=cost,
            ),
            view=StoryboardReview(self.draft, shots),
            allowed_mentions=discord.AllowedMentions.none(),
        )


class StoryboardReview(discord.ui.View):
    """Send / Edit / Cancel under the preview; Send is left out while the storyboard is broken."""

    def __init__(self, draft: StoryboardDraft, shots: tuple[Shot, ...] | None) -> None:
        super().__init__(timeout=OPEN_FOR)
        self.draft = draft
        self.shots = shots
        if shots is None:
            self.remove_item(self.send)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.draft.owner_id:
            await flows.reply(interaction, text.NOT_YOURS)
            return False
        return True

    @discord.ui.button(label=text.SEND, style=discord.ButtonStyle.success)
    async def send(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        assert self.draft.request is not None
        self.stop()
        await interaction.response.edit_message(view=None)
        bot = cast("VideoBot", interaction.client)
        outcome = await flows.submit(bot, interaction, self.draft.request, self.draft.attachments)
        await interaction.followup.send(
            outcome.message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @discord.ui.button(label=text.EDIT_STORYBOARD, style=discord.ButtonStyle.secondary)
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(StoryboardModal(self.draft))

    @discord.ui.button(label=text.CANCEL, style=discord.ButtonStyle.danger)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content=text.CANCELLED, view=None)
