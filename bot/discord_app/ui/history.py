"""`/video history` pages and `/video show` cards, as ephemeral messages, with paging buttons that outlive the process.

A page's Previous and Next carry in their custom_id everything the next press needs (who asked, the server, the
filters, the page number and the render to page from), so after a restart discord.py still routes a press to
`HistoryPageButton` and the database says the rest. What the member may see is worked out again at each press.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.discord_app import flows
from bot.discord_app.context import context_of
from bot.discord_app.ui import fit, text
from bot.discord_app.ui.status import describe_settings, status_embed
from bot.discord_app.ui.views import result_view, status_view
from bot.domain.chain import can_stitch
from bot.domain.models import ModelSpec, ModelTable
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.services.history import (
    PAGE_SIZE,
    SHORT_ID,
    Direction,
    HistoryFilter,
    HistoryPage,
    HistoryService,
    LookupProblem,
    Viewer,
)

log = logging.getLogger(__name__)

PROMPT_PREVIEW = 160  # per entry: enough to recognise a prompt, short enough to scan ten of them
SETTINGS_LIMIT = 100
MAX_PAGE_NUMBER = 999  # shown only; keeps the custom_id within Discord's 100 characters
CUSTOM_ID_LIMIT = 100
_SNOWFLAKE = r"[0-9a-z]{1,13}"
PAGE_TEMPLATE = (
    rf"vh:(?P<owner>{_SNOWFLAKE}):(?P<guild>{_SNOWFLAKE}):(?P<member>{_SNOWFLAKE}|):(?P<channel>{_SNOWFLAKE}|)"
    r":(?P<direction>[np])(?P<number>[0-9]{1,3}):(?P<cursor>[0-9a-f]{32})"
)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if not number:
            return out


# ---- what a page shows -------------------------------------------------------------------------------------


def jump_link(render: RenderRecord) -> str | None:
    """Where to find the render in the chat: its clip once delivered, else its status card (a thread per request
    starts on that card); None when there is no message (yet) or the channel is gone."""
    if render.chat_gone:
        return None
    # The clip is posted in the render's channel as a reply to the card, whether or not a thread was opened there.
    message = render.result_message_id if render.state is RenderState.DELIVERED else None
    message = message or render.status_message_id
    if message is None:
        return None
    return f"https://discord.com/channels/{render.guild_id}/{render.channel_id}/{message}"


def _flat(prompt: str) -> str:
    # One line per prompt: a newline in it would let it pose as another entry.
    return " ".join(prompt.split())


def _entry_frame(number: int, render: RenderRecord, model: ModelSpec | None) -> tuple[str, str]:
    """What an entry shows before and after its prompt (everything but the prompt, which gets the room left)."""
    take = text.HISTORY_TAKE.format(take=render.take_index, takes=render.takes) if render.takes > 1 else ""
    link = jump_link(render)
    where = text.HISTORY_JUMP.format(link=link) if link else text.HISTORY_NO_MESSAGE
    before = text.HISTORY_ENTRY_HEAD.format(number=number)
    after = text.HISTORY_ENTRY_TAIL.format(
        state=text.STATE_TITLES[render.state] + take,
        when=text.ts(render.created_at),
        user=render.user_id,
        where=where,
        settings=fit.clip(describe_settings(render.request, model), SETTINGS_LIMIT),
        id=render.id[:SHORT_ID],
    )
    return before, after


def _scope(filters: HistoryFilter) -> str:
    where = (
        text.HISTORY_SCOPE_CHANNEL.format(channel=filters.channel_id)
        if filters.channel_id is not None
        else text.HISTORY_SCOPE_SERVER
    )
    if filters.member_id is not None:
        where += text.HISTORY_BY_MEMBER.format(member=filters.member_id)
    return where


def page_description(entries: Sequence[RenderRecord], filters: HistoryFilter, models: ModelTable, first: int) -> str:
    """The page's text, within an embed description's 4,096 characters whatever the prompts: the fixed parts of
    each entry first, then the prompts share what is left (short ones whole, long ones evenly, escaped)."""
    head = _scope(filters) + "\n\n"
    frames = [
        _entry_frame(first + offset, render, models.get(render.request.model)) for offset, render in enumerate(entries)
    ]
    separators = max(0, len(entries) - 1) * fit.size("\n\n")
    fixed = fit.size(head) + separators + sum(fit.size(before) + fit.size(after) for before, after in frames)
    prompts = [_flat(render.request.prompt) for render in entries]
    needs = [min(fit.size(fit.escape(prompt)), PROMPT_PREVIEW) for prompt in prompts]
    shares = fit.shares(needs, fit.EMBED_DESCRIPTION_LIMIT - fixed)
    body = "\n\n".join(
        before + (fit.quote(prompt, share) if share > 0 else "") + after
        for (before, after), prompt, share in zip(frames, prompts, shares, strict=True)
    )
    # Never reached with the limits above (ten fixed parts take under 3,500); a last guard all the same.
    return fit.clip(head + body, fit.EMBED_DESCRIPTION_LIMIT)


def history_embed(page: HistoryPage, filters: HistoryFilter, models: ModelTable) -> discord.Embed:
    first = (page.number - 1) * PAGE_SIZE + 1
    embed = discord.Embed(
        title=text.HISTORY_TITLE.format(number=page.number),
        description=page_description(page.entries, filters, models, first),
        colour=discord.Colour.blurple(),
    )
    embed.set_footer(text=text.HISTORY_FOOTER)
    return embed


# ---- paging buttons ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageButtonState:
    """What a paging button carries: who may press it, where, which filters, and the page it leads to."""

    owner_id: int
    guild_id: int
    member_id: int | None
    channel_id: int | None
    direction: Direction
    number: int  # the page it leads to
    cursor: str  # the render id it pages from: the last entry shown (Next) or the first (Previous)

    def custom_id(self) -> str:
        parts = (
            "vh",
            _b36(self.owner_id),
            _b36(self.guild_id),
            _b36(self.member_id) if self.member_id is not None else "",
            _b36(self.channel_id) if self.channel_id is not None else "",
            f"{self.direction.value}{min(max(1, self.number), MAX_PAGE_NUMBER)}",
            self.cursor,
        )
        return ":".join(parts)

    @classmethod
    def parse(cls, match: re.Match[str]) -> PageButtonState:
        return cls(
            owner_id=int(match["owner"], 36),
            guild_id=int(match["guild"], 36),
            member_id=int(match["member"], 36) if match["member"] else None,
            channel_id=int(match["channel"], 36) if match["channel"] else None,
            direction=Direction(match["direction"]),
            number=int(match["number"]),
            cursor=match["cursor"],
        )

    @property
    def filters(self) -> HistoryFilter:
        return HistoryFilter(self.guild_id, self.member_id, self.channel_id)


class HistoryPageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PAGE_TEMPLATE):
    def __init__(self, state: PageButtonState, *, disabled: bool = False) -> None:
        label = text.HISTORY_NEXT if state.direction is Direction.NEXT else text.HISTORY_PREVIOUS
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=state.custom_id(), disabled=disabled
            )
        )
        self.state = state

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> HistoryPageButton:
        return cls(PageButtonState.parse(match))

    @flows.guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        state = self.state
        # The list is ephemeral, so only its owner sees it; a crafted press from anyone else, or from another
        # server, reads nothing.
        if interaction.user.id != state.owner_id:
            await flows.reply(interaction, text.NOT_YOURS)
            return
        if interaction.guild_id != state.guild_id:
            await flows.reply(interaction, text.HISTORY_ELSEWHERE)
            return
        await interaction.response.defer()  # the database may be slow; the page is then edited in place
        services = context_of(interaction).services
        page = await HistoryService(services.renders).page(
            state.filters, viewer_of(interaction), cursor=state.cursor, direction=state.direction, number=state.number
        )
        await interaction.edit_original_response(
            **history_message(page, state.filters, state.owner_id, services.models)
        )


HISTORY_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (HistoryPageButton,)


def history_view(page: HistoryPage, filters: HistoryFilter, owner_id: int) -> discord.ui.View:
    def state(direction: Direction, number: int, cursor: RenderRecord) -> PageButtonState:
        return PageButtonState(
            owner_id, filters.guild_id, filters.member_id, filters.channel_id, direction, number, cursor.id
        )

    view = discord.ui.View(timeout=None)
    previous = state(Direction.PREVIOUS, page.number - 1, page.entries[0])
    view.add_item(HistoryPageButton(previous, disabled=not page.has_previous))
    view.add_item(
        HistoryPageButton(state(Direction.NEXT, page.number + 1, page.entries[-1]), disabled=not page.has_next)
    )
    return view


def history_message(page: HistoryPage, filters: HistoryFilter, owner_id: int, models: ModelTable) -> dict[str, Any]:
    """The keyword arguments that show `page` in an ephemeral reply (or replace the one shown)."""
    if not page.entries:
        return {
            "content": text.HISTORY_EMPTY.format(where=_scope(filters)),
            "embed": None,
            "view": None,
            "allowed_mentions": discord.AllowedMentions.none(),
        }
    return {
        "content": None,
        "embed": history_embed(page, filters, models),
        "view": history_view(page, filters, owner_id),
        "allowed_mentions": discord.AllowedMentions.none(),
    }


# ---- who is looking ----------------------------------------------------------------------------------------


def viewer_of(interaction: discord.Interaction) -> Viewer:
    """The member and the channels they can see now (their own renders are theirs wherever they were made).

    From discord.py's cache (the GUILDS intent keeps channels, threads and roles): a channel it does not know (an
    archived thread, a deleted channel) counts as hidden, and so does a private thread other than this one.
    """
    user = interaction.user
    here = {interaction.channel_id} if interaction.channel_id is not None else set()
    guild = interaction.guild
    if guild is None or not isinstance(user, discord.Member):
        return Viewer(user.id, frozenset(here))
    if user.guild_permissions.administrator:
        return Viewer(user.id, None)
    seen = {channel.id for channel in guild.channels if channel.permissions_for(user).view_channel}
    seen |= {
        thread.id for thread in guild.threads if not thread.is_private() and thread.permissions_for(user).view_channel
    }
    return Viewer(user.id, frozenset(seen | here))


# ---- the handlers' bodies ----------------------------------------------------------------------------------


async def send_history(interaction: discord.Interaction, filters: HistoryFilter) -> None:
    """Fill the deferred reply of `/video history` with its first page."""
    services = context_of(interaction).services
    page = await HistoryService(services.renders).page(filters, viewer_of(interaction))
    await interaction.edit_original_response(**history_message(page, filters, interaction.user.id, services.models))


def show_card(render: RenderRecord, *, render_timeout: float, model: ModelSpec | None) -> dict[str, Any]:
    """The render's card as `/video show` sends it: the status card with the buttons its state has, and where it
    is in the chat. The one place to point at when the card changes shape."""
    link = jump_link(render)
    view = (
        result_view(render.id, stitch=can_stitch(render))
        if render.state is RenderState.DELIVERED
        else status_view(render)
    )
    return {
        "content": text.SHOW_WHERE.format(link=link) if link else None,
        "embed": status_embed(render, render_timeout=render_timeout, model=model),
        "view": view,
        "allowed_mentions": discord.AllowedMentions.none(),
    }


async def send_card(interaction: discord.Interaction, typed_id: str) -> None:
    """Fill the deferred reply of `/video show` with the card of the render `typed_id` names, or say why not."""
    services = context_of(interaction).services
    assert interaction.guild_id is not None
    found = await HistoryService(services.renders).find(interaction.guild_id, viewer_of(interaction), typed_id)
    if found.render is None:
        problem = found.problem or LookupProblem.NOT_FOUND
        # Only the hex id read from it is echoed back, never what the member typed.
        await flows.reply(interaction, text.SHOW_PROBLEMS[problem.value].format(id=found.wanted or ""))
        return
    render = found.render
    card = show_card(
        render,
        render_timeout=services.settings.render_timeout,
        model=services.models.get(render.request.model),
    )
    await interaction.edit_original_response(**card)
