"""Buttons that outlive the process: their custom_id carries the render (or request) id, so after a restart
discord.py still routes a press to the right class (DynamicItem), and the database says the rest."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import Any

import discord

from bot.discord_app import continuation, flows
from bot.discord_app.context import context_of
from bot.discord_app.ui import text
from bot.domain.chain import ChainLink
from bot.domain.errors import UserFacingError
from bot.domain.render import RenderRecord
from bot.domain.states import WAITING_STATES, FailureKind, RenderState
from bot.domain.validation import revalidate_prompt
from bot.services.approvals import GenerationPaused
from bot.services.cancel import CancelOutcome, CancelService

log = logging.getLogger(__name__)
RENDER_ID = r"(?P<id>[0-9a-f]{32})"


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
    return _of_this_guild(interaction, await context_of(interaction).services.renders.get(render_id))


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
        # model that takes a seed gets a new one (shown on the card), or it would render the same clip again. The
        # button belongs to one take (or one model of a compare): that one is rendered again, alone.
        context = context_of(interaction)
        request = dataclasses.replace(context.services.generation.fresh_seed(render.request), takes=1)
        outcome = await flows.submit(context, interaction, request, [], chain=ChainLink.of(render))
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
        # The pressed message too: the database may not have recorded its id yet. A take of several leaves the
        # others in the result message; the last clip deleted takes the message and the card with it.
        pressed = interaction.message.id if interaction.message else None
        if not await context_of(interaction).services.tracker.results.remove(render, pressed=pressed):
            await flows.reply(interaction, text.DELETE_BUSY)
            return
        log.info("render %s deleted by user %s", render.id, interaction.user.id)
        await flows.reply(interaction, text.DELETED)


class CancelButton(_IdButton, Button, template=rf"video:cancel:{RENDER_ID}"):
    """On the card while the request waits (in the bot's queue, or for approval): the requester or a moderator
    takes it back before anything reaches ModelStream, and the credits come back."""

    action, label = "cancel", text.CANCEL

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.guild_id is None:
            await flows.reply(interaction, text.RENDER_UNKNOWN)
            return
        services = context_of(interaction).services
        cancels = CancelService(renders=services.renders, wake_tracker=services.tracker.wake, now=services.clock)
        # One card stands for every take of a request (or model of a compare): Cancel takes back all that wait.
        pressed = await services.renders.get(self.item_id)
        ids = [self.item_id]
        if pressed is not None and pressed.guild_id == interaction.guild_id and pressed.takes > 1:
            group = await services.renders.list_group(pressed.group_id)
            ids += [m.id for m in group if m.id != self.item_id and m.state in WAITING_STATES]
        # Checked here, not only by who sees the button: a crafted press must not cancel someone else's request.
        results = [
            await cancels.cancel(
                render_id,
                guild_id=interaction.guild_id,
                user_id=interaction.user.id,
                is_moderator=bool(interaction.permissions.manage_guild),
            )
            for render_id in ids
        ]
        cancelled = [r.render for r in results if r.outcome is CancelOutcome.CANCELLED and r.render is not None]
        if cancelled:
            await flows.reply(interaction, text.CANCEL_DONE.format(cost=sum(render.cost for render in cancelled)))
        else:
            await flows.reply(interaction, _CANCEL_REPLIES[results[0].outcome])


_CANCEL_REPLIES = {
    CancelOutcome.NOT_ALLOWED: text.CANCEL_NOT_ALLOWED,
    CancelOutcome.TOO_LATE: text.CANCEL_TOO_LATE,
    CancelOutcome.ENDED: text.CANCEL_ENDED,
    CancelOutcome.UNKNOWN: text.RENDER_UNKNOWN,
}


class RemixModal(discord.ui.Modal, title=text.REMIX_TITLE):
    def __init__(self, render_id: str, prompt: str | None) -> None:
        super().__init__(timeout=900)
        self.item_id = render_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            default=prompt[:2500] if prompt is not None else None,
            max_length=2500,
        )
        self.add_item(discord.ui.Label(text=text.REMIX_LABEL, description=text.REMIX_HELP, component=self.prompt))

    @flows.guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        render = await _deferred_render(interaction, self.item_id)
        if render is None:
            return
        context = context_of(interaction)
        try:
            model = context.services.models.get(render.request.model)
            request = revalidate_prompt(render.request, self.prompt.value, model)
        except UserFacingError as error:
            await flows.reply(interaction, error.message)
            return
        outcome = await flows.submit(context, interaction, request, [], chain=ChainLink.of(render))
        await flows.reply(interaction, outcome.message)


class ContinueButton(_IdButton, Button, template=rf"video:continue:{RENDER_ID}"):
    """The next shot, starting from this clip's last frame (PRODUCT.md section 4)."""

    action, label = "continue", text.CONTINUE

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        # The modal must be the first response: the clip's length only fills in a default, so a slow lookup
        # opens the modal without it (the submit loads and checks the render anyway).
        try:
            render = await asyncio.wait_for(_render_here(interaction, self.item_id), timeout=REMIX_LOOKUP_SECONDS)
        except TimeoutError:
            log.warning("render %s: lookup for Continue timed out; opening the modal without a length", self.item_id)
            render = None
        await interaction.response.send_modal(
            ContinueModal(self.item_id, render.request.duration if render is not None else None)
        )


class StitchButton(_IdButton, Button, template=rf"video:stitch:{RENDER_ID}"):
    """On a clip that continues another: the whole chain up to it, joined into one video, free of credits."""

    action, label = "stitch", text.STITCH

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await continuation.stitch_chain(context_of(interaction), interaction, self.item_id)
        await flows.reply(interaction, message)


class ContinueModal(discord.ui.Modal, title=text.CONTINUE_TITLE):
    def __init__(self, render_id: str, duration: int | None) -> None:
        super().__init__(timeout=900)
        self.item_id = render_id
        self.prompt: discord.ui.TextInput[ContinueModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph, max_length=2500
        )
        self.duration: discord.ui.TextInput[ContinueModal] = discord.ui.TextInput(
            style=discord.TextStyle.short,
            default=str(duration) if duration is not None else None,
            required=False,
            max_length=3,
        )
        self.add_item(
            discord.ui.Label(
                text=text.CONTINUE_PROMPT_LABEL, description=text.CONTINUE_PROMPT_HELP, component=self.prompt
            )
        )
        self.add_item(
            discord.ui.Label(
                text=text.CONTINUE_DURATION_LABEL, description=text.CONTINUE_DURATION_HELP, component=self.duration
            )
        )

    @flows.guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await continuation.continue_clip(
            context_of(interaction), interaction, self.item_id, prompt=self.prompt.value, duration=self.duration.value
        )
        await flows.reply(interaction, message)


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
        try:
            moved = await context_of(interaction).services.approvals.decide(
                self.item_id,
                guild_id=interaction.guild_id,
                moderator_id=interaction.user.id,
                approve=self.approve,
                approval_channel_id=interaction.channel_id,
            )
        except GenerationPaused:
            await flows.reply(interaction, text.APPROVAL_PAUSED)
            return
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
    CancelButton,
    ContinueButton,
    StitchButton,
)


def result_view(render_id: str, *, stitch: bool = False) -> discord.ui.View:
    """The buttons under a delivered clip; Stitch only on a clip that continues another (`can_stitch`)."""
    view = discord.ui.View(timeout=None)
    view.add_item(RegenerateButton(render_id))
    view.add_item(RemixButton(render_id))
    view.add_item(ContinueButton(render_id))
    if stitch:
        view.add_item(StitchButton(render_id))
    view.add_item(DeleteButton(render_id))
    return view


def status_view(render: RenderRecord) -> discord.ui.View | None:
    """The buttons under a status message: Cancel while it waits (never once the create was sent: the API has no
    cancel), Regenerate once it failed (its reason may say to press it), else none."""
    view = discord.ui.View(timeout=None)
    if render.state in WAITING_STATES:
        view.add_item(CancelButton(render.id))
    elif render.state is RenderState.FAILED and render.failure_kind is not FailureKind.CANCELLED:
        view.add_item(RegenerateButton(render.id))
    else:
        return None
    return view
