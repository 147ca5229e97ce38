"""Buttons that outlive the process: their custom_id carries the render (or request) id, so after a restart
discord.py still routes a press to the right class (DynamicItem), and the database says the rest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord_app import flows
from bot.discord_app.ui import text
from bot.domain.errors import UserFacingError
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.domain.validation import revalidate_prompt

if TYPE_CHECKING:
    from bot.discord_app.client import VideoBot

log = logging.getLogger(__name__)
RENDER_ID = r"(?P<id>[0-9a-f]{32})"


def _bot(interaction: discord.Interaction) -> VideoBot:
    return cast("VideoBot", interaction.client)


Button = discord.ui.DynamicItem[discord.ui.Button[Any]]


class _IdButton:
    """Shared shape of the persistent buttons: one id in the custom_id (mixed into each DynamicItem)."""

    action = ""
    label = ""
    style = discord.ButtonStyle.secondary

    def __init__(self, item_id: str) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=self.label, style=self.style, custom_id=f"video:{self.action}:{item_id}"
        )
        super().__init__(button)  # type: ignore[call-arg]
        self.item_id = item_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Any:
        return cls(match["id"])


# Remix must answer with its modal within Discord's 3 seconds: the prompt is only a convenience, so the lookup
# gets this long and the modal opens empty when the database is slower.
REMIX_LOOKUP_SECONDS = 1.0


def _of_this_guild(interaction: discord.Interaction, render: RenderRecord | None) -> RenderRecord | None:
    """The render, or None when it is unknown or belongs to another guild (a crafted custom_id sees nothing)."""
    if render is None or render.guild_id != interaction.guild_id:
        return None
    return render


async def _render_here(interaction: discord.Interaction, render_id: str) -> RenderRecord | None:
    return _of_this_guild(interaction, await _bot(interaction).services.renders.get(render_id))


async def _deferred_render(interaction: discord.Interaction, render_id: str) -> RenderRecord | None:
    """Defer (the database may be slow), then load the render; tells the member when there is none here."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    render = await _render_here(interaction, render_id)
    if render is None:
        await flows.reply(interaction, text.RENDER_UNKNOWN)
    return render


class RegenerateButton(_IdButton, Button, template=rf"video:regen:{RENDER_ID}"):
    action, label, style = "regen", text.REGENERATE, discord.ButtonStyle.primary

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        render = await _deferred_render(interaction, self.item_id)
        if render is None:
            return
        # Same settings, and the images are already stored under the same slots: nothing to download again. A
        # model that takes a seed gets a new one (shown on the card), or it would render the same clip again.
        request = _bot(interaction).services.generation.fresh_seed(render.request)
        outcome = await flows.submit(_bot(interaction), interaction, request, [])
        await flows.reply(interaction, outcome.message)


class RemixButton(_IdButton, Button, template=rf"video:remix:{RENDER_ID}"):
    action, label = "remix", text.REMIX

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        # The modal must be the first response: an unknown (or slow to load) render opens it empty, and the
        # submit loads and checks the stored request anyway.
        try:
            render = await asyncio.wait_for(_render_here(interaction, self.item_id), timeout=REMIX_LOOKUP_SECONDS)
        except TimeoutError:
            log.warning("render %s: prompt lookup for Remix timed out; opening the modal empty", self.item_id)
            render = None
        prompt = render.request.prompt if render is not None else None
        await interaction.response.send_modal(RemixModal(self.item_id, prompt))


class DeleteButton(_IdButton, Button, template=rf"video:delete:{RENDER_ID}"):
    action, label, style = "delete", text.DELETE, discord.ButtonStyle.danger

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        render = await _deferred_render(interaction, self.item_id)
        if render is None:
            return
        perms = interaction.permissions
        if interaction.user.id != render.user_id and not (perms.manage_messages or perms.manage_guild):
            await flows.reply(interaction, text.DELETE_NOT_ALLOWED)
            return
        channel = _bot(interaction).get_partial_messageable(render.channel_id)
        # The pressed message itself first: the database may not have recorded its id yet.
        pressed = interaction.message.id if interaction.message else None
        for message_id in dict.fromkeys((pressed, render.result_message_id, render.status_message_id)):
            if message_id is None:
                continue
            with contextlib.suppress(discord.NotFound):
                await channel.get_partial_message(message_id).delete()
        log.info("render %s deleted by user %s", render.id, interaction.user.id)
        await flows.reply(interaction, text.DELETED)


class RemixModal(discord.ui.Modal, title=text.REMIX_TITLE):
    def __init__(self, render_id: str, prompt: str | None) -> None:
        super().__init__(timeout=900)
        self.item_id = render_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=text.REMIX_LABEL,
            style=discord.TextStyle.paragraph,
            default=prompt[:2500] if prompt is not None else None,
            max_length=2500,
        )
        self.add_item(self.prompt)

    @flows.guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        render = await _deferred_render(interaction, self.item_id)
        if render is None:
            return
        try:
            model = _bot(interaction).services.models.get(render.request.model)
            request = revalidate_prompt(render.request, self.prompt.value, model)
        except UserFacingError as error:
            await flows.reply(interaction, error.message)
            return
        outcome = await flows.submit(_bot(interaction), interaction, request, [])
        await flows.reply(interaction, outcome.message)


class _DecisionButton(_IdButton):
    approve = True

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        # Checked here, not only by who can see the channel: a crafted press must not approve anything.
        if not interaction.permissions.manage_guild:
            await flows.reply(interaction, text.APPROVAL_NEEDS_MANAGE)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.guild_id is None or interaction.channel_id is None:
            await flows.reply(interaction, text.RENDER_UNKNOWN)
            return
        moved = await _bot(interaction).services.approvals.decide(
            self.item_id,
            guild_id=interaction.guild_id,
            moderator_id=interaction.user.id,
            approve=self.approve,
            approval_channel_id=interaction.channel_id,
        )
        if not moved:
            await flows.reply(interaction, text.APPROVAL_ALREADY)
            return
        await flows.reply(interaction, text.APPROVAL_DONE.format(decision="approved" if self.approve else "declined"))


class ApproveButton(_DecisionButton, Button, template=rf"video:approve:{RENDER_ID}"):
    approve, action, label, style = True, "approve", text.APPROVE, discord.ButtonStyle.success


class DenyButton(_DecisionButton, Button, template=rf"video:deny:{RENDER_ID}"):
    approve, action, label, style = False, "deny", text.DENY, discord.ButtonStyle.danger


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    RegenerateButton,
    RemixButton,
    DeleteButton,
    ApproveButton,
    DenyButton,
)


def result_view(render_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in (RegenerateButton, RemixButton, DeleteButton):
        view.add_item(button(render_id))
    return view


def approval_view(group_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(group_id))
    view.add_item(DenyButton(group_id))
    return view


def status_view(render: RenderRecord) -> discord.ui.View | None:
    """The buttons under a status message: Regenerate once it failed (its reason may say to press it), else none."""
    if render.state is not RenderState.FAILED:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(RegenerateButton(render.id))
    return view
