"""The multi-shot storyboard: a modal (the command's first response), a preview, then Send.

Nothing is accepted until Send, so these views live in memory only; the slash command's attachments travel
with them and are downloaded at Send.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.discord_app import flows
from bot.discord_app.context import context_of
from bot.discord_app.ui import text
from bot.discord_app.ui.messages import storyboard_fix, storyboard_preview
from bot.domain.cost import request_cost
from bot.domain.errors import UserFacingError
from bot.domain.request import AttachmentRef, RawOptions, VideoRequest
from bot.domain.storyboard import STORYBOARD_PLACEHOLDER, parse_storyboard
from bot.domain.validation import attachments_of, validate_options

log = logging.getLogger(__name__)
OPEN_FOR = 900.0  # seconds; the slash command's attachment URLs outlive this comfortably


class StoryboardDraft:
    """What the member asked for so far: the slash options and the storyboard text, shared by every preview."""

    def __init__(self, owner_id: int, raw: RawOptions) -> None:
        self.owner_id = owner_id
        self.raw = raw
        self.attachments: list[AttachmentRef] = attachments_of(raw)
        self.text = ""
        # A draft is sent once, whichever of its previews' Send is pressed first.
        self.sent = False
        # Only the newest preview may send; older ones answer that the storyboard was edited since.
        self.latest: StoryboardReview | None = None

    async def show(self, review: StoryboardReview) -> None:
        """Make `review` the newest preview (its message is already posted) and take the buttons off the last."""
        previous, self.latest = self.latest, review
        if previous is not None:
            await previous.retire()


class StoryboardModal(discord.ui.Modal, title=text.STORYBOARD_TITLE):
    def __init__(self, draft: StoryboardDraft) -> None:
        super().__init__(timeout=OPEN_FOR)
        self.draft = draft
        self.shots: discord.ui.TextInput[StoryboardModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            placeholder=STORYBOARD_PLACEHOLDER,
            default=draft.text or None,
            max_length=4000,
        )
        self.add_item(
            discord.ui.Label(text=text.STORYBOARD_LABEL, description=text.STORYBOARD_HELP, component=self.shots)
        )

    @flows.guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if self.draft.sent:
            await flows.reply(interaction, text.STORYBOARD_ALREADY_SENT)
            return
        self.draft.text = self.shots.value
        services = context_of(interaction).services
        assert interaction.guild_id is not None and interaction.channel_id is not None
        defaults = await services.config.channel_defaults(interaction.guild_id, interaction.channel_id)
        try:
            base = validate_options(
                self.draft.raw, defaults, await services.generation.model_choice(interaction.guild_id)
            )
            spec = services.generation.model(base).mode(base.generation_mode)
            assert spec is not None  # validation picked a mode the model has
            shots = parse_storyboard(
                self.draft.text, total=self.draft.raw.duration, has_last_frame=False, durations=spec.durations
            )
        except UserFacingError as error:
            review = StoryboardReview(self.draft, None, interaction)
            await interaction.edit_original_response(
                content=storyboard_fix(error.message),
                view=review,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            await self.draft.show(review)
            return
        request = base.with_shots(shots)
        cost = request_cost(request, services.generation.model(request).cost)
        review = StoryboardReview(self.draft, request, interaction)
        await interaction.edit_original_response(
            content=storyboard_preview(shots, total=request.duration, cost=cost),
            view=review,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await self.draft.show(review)


class StoryboardReview(discord.ui.View):
    """Send / Edit / Cancel under one preview; Send is left out while the storyboard is broken.

    Each preview keeps the request it shows, so Send sends exactly what the member read. The view outlives the
    buttons on purpose (until its timeout): a press that raced their removal is still answered.
    """

    def __init__(self, draft: StoryboardDraft, request: VideoRequest | None, origin: discord.Interaction) -> None:
        super().__init__(timeout=OPEN_FOR)
        self.draft = draft
        self.request = request
        # The interaction whose response is this preview: an ephemeral message is only editable through it.
        self.origin = origin
        if request is None:
            self.remove_item(self.send)

    async def retire(self) -> None:
        """A newer preview replaced this one: take its buttons off (best effort; Send refuses anyway)."""
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException as error:
            log.info("storyboard preview of user %s kept its buttons (%s)", self.draft.owner_id, error.status)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.draft.owner_id:
            await flows.reply(interaction, text.NOT_YOURS)
            return False
        return True

    @discord.ui.button(label=text.SEND, style=discord.ButtonStyle.success)
    @flows.guarded
    async def send(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        if self.draft.sent:
            await flows.reply(interaction, text.STORYBOARD_ALREADY_SENT)
            return
        if self.draft.latest is not self:
            await flows.reply(interaction, text.STORYBOARD_SUPERSEDED)
            return
        assert self.request is not None
        # Set before anything is awaited: a second press, on this preview or another, finds it sent.
        self.draft.sent = True
        await interaction.response.edit_message(view=None)
        outcome = await flows.submit(context_of(interaction), interaction, self.request, self.draft.attachments)
        await flows.reply(interaction, outcome.message)

    @discord.ui.button(label=text.EDIT_STORYBOARD, style=discord.ButtonStyle.secondary)
    @flows.guarded
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        if self.draft.sent:
            await flows.reply(interaction, text.STORYBOARD_ALREADY_SENT)
            return
        # The modal must be the first response, so this preview cannot be changed here; it keeps working until
        # the edited storyboard is submitted (closing the modal loses nothing), then loses its buttons.
        await interaction.response.send_modal(StoryboardModal(self.draft))

    @discord.ui.button(label=text.CANCEL, style=discord.ButtonStyle.danger)
    @flows.guarded
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content=text.CANCELLED, view=None)
