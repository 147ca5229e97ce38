"""The status card of a request, in Components V2: one container whose accent colour follows the state, the text
in text displays, the first frame as a thumbnail in image mode, and the buttons inside the card. The moderators'
approval request is laid out the same way.

One card stands for a whole group (the takes of a request, or the models of a compare). Whatever the member typed
(a 2,500-character prompt, six long shots, an API's long failure reason), a card holds at most 4,000 characters of
text and 40 components (Discord refuses a message past either): the fixed parts are cut to their own limits first,
then the prompt and the storyboard share what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.group_text import (
    COLOURS,
    delivery_waiting,
    failure,
    group_title,
    is_cancelled,
    is_compare,
    is_waiting,
    member_details,
    member_label,
    member_state,
    model_name,
    rendered_in,
    request_ids,
    settings_line,
    started,
)
from bot.discord_app.ui.status import PROMPT_LIMIT, storyboard_lines
from bot.discord_app.ui.views import ApproveButton, CancelButton, DenyButton, RegenerateButton
from bot.domain.estimates import Estimate, expected_start_in
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.request import GenerationMode, ImageRole, VideoRequest
from bot.domain.states import REFUNDED_STATES, FailureKind, RenderState

TEXT_LIMIT = 4000  # characters of text displays in one message (Discord's limit for Components V2)
COMPONENT_LIMIT = 40  # components in one message, counted at every depth
TITLE_LIMIT = 200
SETTINGS_LIMIT = 500
LINES_LIMIT = 2200  # the state lines: a lone render's fields, or every member's line of a group
REASON_LIMIT = 600  # one failure reason, sentence included
FOOTER_LIMIT = 120
STORYBOARD_LIMIT = 1500
APPROVAL_PROMPT_LIMIT = 500
MIN_PROMPT = 200  # the prompt keeps at least this much, whatever the storyboard needs
ESTIMATED_STATES = frozenset({RenderState.ACCEPTED, RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING})


@dataclass(frozen=True)
class CardStyle:
    """What the card needs besides the renders."""

    render_timeout: float
    models: ModelTable
    thumbnail: str | None = None  # filename of the first frame attached to the card message, if it carries it
    # How long renders of a request's kind usually take (measured here), for the card while it waits or renders.
    estimate: Callable[[VideoRequest], Estimate | None] | None = None
    slots: int | None = None  # MAX_RENDERS_AT_API: with a place in line, what an expected start is worked out from


def first_frame(request: VideoRequest) -> str | None:
    """The stored first frame (its sha256) a card shows as its thumbnail: image mode only."""
    if request.generation_mode is not GenerationMode.IMAGE:
        return None
    return next((slot.sha256 for slot in request.images if slot.role is ImageRole.FIRST_FRAME), None)


def status_card(group: Sequence[RenderRecord], style: CardStyle) -> discord.ui.LayoutView:
    """The card of a request: every member's state, and the buttons that fit it (Cancel while it waits,
    Regenerate for what failed)."""
    title, colour = group_title(group)
    first = group[0]
    settings = fit.clip(settings_line(group, style.models), SETTINGS_LIMIT)
    cost = text.CREDITS.format(cost=sum(render.cost for render in group))
    header = f"**Settings:** {settings}\n**Requested by:** <@{first.user_id}> · **Cost:** {cost}"
    lines = _lone_lines(first, style) if len(group) == 1 else _group_lines(group, style)
    fixed = [f"### {fit.clip(title, TITLE_LIMIT)}", header, fit.clip(lines, LINES_LIMIT), _footer(group)]
    prompt, storyboard = _prompt_and_storyboard(first.request, TEXT_LIMIT - sum(fit.size(b) for b in fixed))
    container = _container(colour)
    container.add_item(discord.ui.TextDisplay(fixed[0]))
    _add_prompt(container, prompt, style.thumbnail)
    container.add_item(discord.ui.TextDisplay(header))
    if storyboard:
        container.add_item(discord.ui.TextDisplay(storyboard))
    if fixed[2]:
        container.add_item(discord.ui.TextDisplay(fixed[2]))
    buttons = _card_buttons(group, style.models)
    if buttons:
        container.add_item(_row(buttons))
    container.add_item(discord.ui.TextDisplay(fixed[3]))
    return _view(container)


def approval_card(group: Sequence[RenderRecord], style: CardStyle) -> discord.ui.LayoutView:
    """The moderators' question: who asked what, where, why it is held, what it costs; Approve and Deny."""
    first = group[0]
    settings = settings_line(group, style.models)
    if is_compare(group):
        settings += " · " + ", ".join(model_name(render, style.models) for render in group)
    body = text.APPROVAL_BODY.format(
        user=first.user_id,
        channel=first.channel_id,
        reason=fit.neutral(first.approval_reason or "approval rules", 300),
        prompt=fit.quote(first.request.prompt, APPROVAL_PROMPT_LIMIT),
        settings=fit.clip(settings, SETTINGS_LIMIT),
        cost=sum(render.cost for render in group),
    )
    container = _container("approval")
    container.add_item(discord.ui.TextDisplay(f"### {text.APPROVAL_TITLE}"))
    _add_prompt(container, body, style.thumbnail)
    container.add_item(_row([ApproveButton(first.group_id), DenyButton(first.group_id)]))
    container.add_item(discord.ui.TextDisplay(_footer(group)))
    return _view(container)


def approval_closed_card(render: RenderRecord, style: CardStyle) -> discord.ui.LayoutView:
    """The approval request once over, without its buttons: the moderator's decision, or why it ended undecided
    (expired, cancelled, paused, banned); and the prompt."""
    if render.decided_by is None:
        reason = text.failure_reason(render.failure_kind, render.failure_detail, style.render_timeout)
        outcome = text.APPROVAL_ENDED.format(reason=fit.neutral(reason, REASON_LIMIT))
    else:
        decision = text.DENIED_BY if render.state is RenderState.DENIED else text.APPROVED_BY
        outcome = decision.format(moderator=render.decided_by)
    container = _container("ended")
    container.add_item(discord.ui.TextDisplay(f"### {text.APPROVAL_TITLE}"))
    container.add_item(discord.ui.TextDisplay(outcome + "\n" + fit.quote(render.request.prompt, APPROVAL_PROMPT_LIMIT)))
    return _view(container)


# ---- the parts -----------------------------------------------------------------------------------------------


def _lone_lines(render: RenderRecord, style: CardStyle) -> str:
    """A request of one render: the lines the embed card showed as fields, in the same order."""
    lines: list[str] = []
    if render.state is RenderState.ACCEPTED and render.queue_place is not None:
        lines.append(f"**{text.PLACE_FIELD}:** {text.place_in_line(render.queue_place)}")
    since = started(render)
    if since is not None:
        lines.append(f"**Started:** {text.ts(since)}")
    estimate = _estimate(render, style)
    if estimate is not None:
        lines.append(f"**Estimate:** {estimate}")
    start = _expected_start(render, style)
    if start is not None:
        lines.append(start)
    waiting = delivery_waiting(render)
    if waiting is not None:
        lines.append(f"**Delivery:** {waiting}")
    if render.state is RenderState.DELIVERED:
        outcome = text.DONE_BELOW if render.result_message_id else text.DONE_ELSEWHERE
        took = rendered_in(render)
        lines.append(f"**Result:** {outcome}" + (f" {took[0].upper()}{took[1:]}." if took else ""))
    if render.state is RenderState.FAILED:
        lines.append(f"**Why:** {failure(render, style.render_timeout, REASON_LIMIT)}")
    if render.state in REFUNDED_STATES:
        lines.append(f"**Credits:** {text.REFUNDED.format(cost=render.cost)}")
    lines += _decisions(render)
    return "\n".join(lines)


def _group_lines(group: Sequence[RenderRecord], style: CardStyle) -> str:
    """A line per member (its name, seed or cost, and state), then what concerns the whole request."""
    lines = []
    for render in group:
        name = " · ".join([f"**{member_label(render, group, style.models)}**", *member_details(render, group)])
        phrase = member_state(render, style.render_timeout, REASON_LIMIT)
        estimate = _estimate(render, style)
        if estimate is not None and is_compare(group):
            phrase += f" · {estimate}"  # each model its own (takes share theirs: one line below)
        lines.append(f"{name}: {phrase}")
    needs = [fit.size(line) for line in lines]
    room = LINES_LIMIT - 400 - len(lines)  # what concerns the whole request keeps 400
    lines = [fit.clip(line, share) for line, share in zip(lines, fit.shares(needs, room), strict=True)]
    if not is_compare(group):
        estimate = next((e for e in (_estimate(render, style) for render in group) if e is not None), None)
        if estimate is not None:
            lines.append(f"**Estimate:** {estimate}")
    delivered = [render for render in group if render.state is RenderState.DELIVERED]
    if any(render.result_message_id for render in delivered):
        lines.append(f"**Result:** {text.DONE_BELOW_GROUP}")
    elif delivered:
        lines.append(f"**Result:** {text.DONE_ELSEWHERE}")
    lines += _decisions(group[0])
    return "\n".join(lines)


def _expected_start(render: RenderRecord, style: CardStyle) -> str | None:
    """While a render waits its turn under MAX_RENDERS_AT_API: when it should go, from its place and the typical
    time of the renders ahead (its own kind's, the only measurement at hand). Nothing without a measurement."""
    if render.state is not RenderState.ACCEPTED or render.queue_place is None or not style.slots:
        return None
    measured = style.estimate(render.request) if style.estimate is not None else None
    if measured is None:
        return None
    return text.expected_start(expected_start_in(render.queue_place, style.slots, measured.median))


def _estimate(render: RenderRecord, style: CardStyle) -> str | None:
    """How long renders like this one usually take here, while it waits or renders (never ModelStream's own
    progress figure dressed up as a forecast)."""
    if style.estimate is None or render.state not in ESTIMATED_STATES:
        return None
    spec = style.models.get(render.request.model)
    return text.format_estimate(style.estimate(render.request), spec.name if spec is not None else None)


def _decisions(render: RenderRecord) -> list[str]:
    """Who cancelled it, or which moderator approved or declined it (approval is decided for the whole group)."""
    if is_cancelled(render) and render.decided_by is not None:
        return [f"**Cancelled:** {text.CANCELLED_BY.format(user=render.decided_by)}"]
    if render.decided_by is not None and render.state is not RenderState.AWAITING_APPROVAL:
        decided = text.DENIED_BY if render.state is RenderState.DENIED else text.APPROVED_BY
        return [f"**Moderation:** {decided.format(moderator=render.decided_by)}"]
    return []


def _footer(group: Sequence[RenderRecord]) -> str:
    return "-# " + fit.clip(request_ids(group), FOOTER_LIMIT)


def _prompt_and_storyboard(request: VideoRequest, room: int) -> tuple[str, str]:
    """The prompt (escaped) and the storyboard (numbered shots) sharing `room` characters: each gets what it
    needs up to its own limit, and when both are long they split the room (the prompt never under MIN_PROMPT)."""
    heading = "**Storyboard**\n"
    shots = request.shots if request.multi_shot else ()
    prompt_need = min(PROMPT_LIMIT, fit.size(fit.escape(request.prompt)))
    if not shots:
        return fit.quote(request.prompt, max(1, min(prompt_need, room))), ""
    board_need = min(STORYBOARD_LIMIT, fit.size(heading + storyboard_lines(shots, limit=None)))
    prompt_room, board_room = fit.shares([prompt_need, board_need], room)
    if prompt_room < min(MIN_PROMPT, prompt_need):
        prompt_room = min(MIN_PROMPT, prompt_need)
        board_room = room - prompt_room
    prompt = fit.quote(request.prompt, max(1, prompt_room))
    board = heading + storyboard_lines(shots, limit=max(0, board_room - fit.size(heading)))
    return prompt, board if fit.size(board) <= board_room else ""


def _add_prompt(container: discord.ui.Container[Any], shown: str, thumbnail: str | None) -> None:
    if thumbnail is None:
        container.add_item(discord.ui.TextDisplay(shown))
        return
    image: discord.ui.Thumbnail[Any] = discord.ui.Thumbnail(f"attachment://{thumbnail}", description="First frame")
    container.add_item(discord.ui.Section(discord.ui.TextDisplay(shown), accessory=image))


def _card_buttons(group: Sequence[RenderRecord], models: ModelTable) -> list[discord.ui.Item[Any]]:
    """Cancel while any member waits (never once the create was sent: the API has no cancel); Regenerate for each
    member that failed (its reason may say to press it). A group's Regenerate buttons name their member."""
    buttons: list[discord.ui.Item[Any]] = []
    waiting = [render for render in group if is_waiting(render)]
    if waiting:
        buttons.append(CancelButton(waiting[0].id))
    for render in group:
        if render.state is RenderState.FAILED and render.failure_kind is not FailureKind.CANCELLED:
            button = RegenerateButton(render.id)
            if len(group) > 1:
                label = text.REGENERATE_TAKE.format(label=member_label(render, group, models))
                button.item.label = fit.clip(label, 80)
            buttons.append(button)
    return buttons[:5]


def _row(items: Sequence[discord.ui.Item[Any]]) -> discord.ui.ActionRow[Any]:
    row: discord.ui.ActionRow[Any] = discord.ui.ActionRow()
    for item in items:
        row.add_item(item)
    return row


def _container(colour: str) -> discord.ui.Container[Any]:
    return discord.ui.Container(accent_colour=COLOURS[colour])


def _view(container: discord.ui.Container[Any]) -> discord.ui.LayoutView:
    view = discord.ui.LayoutView(timeout=None)
    view.add_item(container)
    return view


__all__ = ["CardStyle", "approval_card", "approval_closed_card", "first_frame", "status_card"]
