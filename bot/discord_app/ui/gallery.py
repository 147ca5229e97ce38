"""The result message of a request, in Components V2: every clip of the group in one media gallery, each member
labelled (take and seed, or model with its cost), with a line saying how it ended and its own buttons under it.

It replies to the status card and mentions the requester when it is first posted; the takes that finish later are
added to it by editing it, which notifies nobody. A member that failed is shown failed, with its refund, in the
same message. Four takes of five buttons each, their lines and the gallery stay within Discord's 40 components,
and the lines share the 4,000 characters of text (a long failure reason is cut, never the message refused).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import discord

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.card import TEXT_LIMIT, CardStyle
from bot.discord_app.ui.group_text import (
    COLOURS,
    failure,
    is_cancelled,
    is_compare,
    member_details,
    member_label,
    refund,
    rendered_in,
)
from bot.discord_app.ui.views import RegenerateButton, result_view
from bot.domain.chain import can_stitch
from bot.domain.render import RenderRecord
from bot.domain.states import REFUNDED_STATES, FailureKind, RenderState

HEADER_PROMPT_LIMIT = 300
LINK = "link"  # the delivery fallback of a clip too large to upload: its link is shown instead of the file
REASON_LIMIT = 500
# The longest link a member's line shows: four of them and the header still fit the message's 4,000 characters.
LINK_LIMIT = 800


def result_message(
    group: Sequence[RenderRecord],
    style: CardStyle,
    *,
    files: Mapping[str, str],
    fitted: Collection[str] = (),
    removed: Collection[str] = (),
) -> discord.ui.LayoutView:
    """The group's result message. `files`: render id -> the file of its clip on the message; `fitted`: renders
    whose file is a copy re-encoded to fit the upload limit (the original's link goes beside it); `removed`:
    renders a member deleted from the message (left out)."""
    shown = [render for render in group if render.id not in removed]
    lone = len(group) == 1
    container: discord.ui.Container[Any] = discord.ui.Container(
        accent_colour=COLOURS["done" if any(r.state is RenderState.DELIVERED for r in shown) else "failed"]
    )
    container.add_item(discord.ui.TextDisplay(_header(group)))
    items = [render for render in shown if render.id in files]
    if items:
        gallery: discord.ui.MediaGallery[Any] = discord.ui.MediaGallery()
        for render in items:
            description = None if lone else _item_description(render, group, style)
            gallery.add_item(media=f"attachment://{files[render.id]}", description=description)
        container.add_item(gallery)
    lines = [_line(render, group, style, files, fitted) for render in shown]
    room = TEXT_LIMIT - fit.size(_header(group)) - len(lines)
    shares = fit.shares([fit.size(line) for line in lines], room)
    for render, line, share in zip(shown, lines, shares, strict=True):
        if line:
            container.add_item(discord.ui.TextDisplay(fit.clip(line, share)))
        buttons = _buttons(render, files)
        if buttons:
            row: discord.ui.ActionRow[Any] = discord.ui.ActionRow()
            for button in buttons:
                row.add_item(button)
            container.add_item(row)
    view = discord.ui.LayoutView(timeout=None)
    view.add_item(container)
    return view


def _header(group: Sequence[RenderRecord]) -> str:
    first = group[0]
    if len(group) == 1:
        return text.RESULT_READY.format(user=first.user_id)
    form = text.RESULT_COMPARE if is_compare(group) else text.RESULT_TAKES
    return (
        form.format(user=first.user_id, count=len(group)) + "\n" + fit.quote(first.request.prompt, HEADER_PROMPT_LIMIT)
    )


def _item_description(render: RenderRecord, group: Sequence[RenderRecord], style: CardStyle) -> str:
    return fit.clip(" · ".join([member_label(render, group, style.models), *member_details(render, group)]), 1024)


def _line(
    render: RenderRecord,
    group: Sequence[RenderRecord],
    style: CardStyle,
    files: Mapping[str, str],
    fitted: Collection[str],
) -> str:
    """How the member ended (or that it is still coming), after its name for a group; a lone render whose clip is
    simply attached needs no line."""
    outcome = _outcome(render, style, files, fitted)
    if len(group) == 1:
        return outcome[:1].upper() + outcome[1:]  # a sentence of its own under the mention
    parts = [f"**{member_label(render, group, style.models)}**", *member_details(render, group)]
    took = rendered_in(render) if render.state is RenderState.DELIVERED else None
    if took:
        parts.append(took)
    name = " · ".join(parts)
    return f"{name}: {outcome}" if outcome else name


def _outcome(render: RenderRecord, style: CardStyle, files: Mapping[str, str], fitted: Collection[str]) -> str:
    if render.state in REFUNDED_STATES:
        if is_cancelled(render):
            return f"{text.CANCELLED_TITLE}. {refund(render)}"
        return text.RESULT_FAILED.format(
            reason=failure(render, style.render_timeout, REASON_LIMIT), refund=refund(render)
        )
    if render.state is not RenderState.DELIVERED:
        return text.RESULT_PENDING
    if render.id in files:
        if render.id not in fitted:
            return ""
        link = fit.safe_link(render.video_url)
        return text.CLIP_FITTED_LINE.format(url=link) if link else text.CLIP_FITTED_LINE_NO_LINK
    if render.fallback == LINK and render.result_message_id is not None:
        link = fit.safe_link(render.video_url)
        if link is None:
            return text.RESULT_NO_LINK
        # A link is posted whole or not at all: cut, it would lead nowhere.
        return text.RESULT_LINK.format(link=link) if fit.size(link) <= LINK_LIMIT else text.RESULT_LINK_TOO_LONG
    if render.result_message_id is None:
        return text.RESULT_ELSEWHERE
    return text.RESULT_REMOVED


def _buttons(render: RenderRecord, files: Mapping[str, str]) -> list[discord.ui.Item[Any]]:
    """A delivered clip's own actions (Regenerate, Remix, Continue, Stitch, Delete: the buttons any clip has);
    Regenerate for a member that failed; nothing for one still coming."""
    if render.state is RenderState.DELIVERED and (render.id in files or render.fallback == LINK):
        view = result_view(render.id, stitch=can_stitch(render))
        buttons = list(view.children)
        for button in buttons:
            view.remove_item(button)
        return buttons
    if render.state is RenderState.FAILED and render.failure_kind is not FailureKind.CANCELLED:
        return [RegenerateButton(render.id)]
    return []
