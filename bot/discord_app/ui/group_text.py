"""What the status card and the result message say about a group of renders: one request's takes, or the models
of a compare. Plain strings (escaped, cut to the sizes asked for); the layouts (`card`, `gallery`) place them.

A group of one is a plain request: it reads as the embed card did, field by field. A larger group is summed up in
its title (the state of the takes furthest along, and how many are done or failed) and each member gets a line of
its own, named by its take number (and seed) or, in a compare, by its model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import discord

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.status import describe_settings
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import REFUNDED_STATES, TERMINAL_STATES, WAITING_STATES, FailureKind, RenderState

# The non-final states from least to furthest along: a group's title follows the member furthest along.
_PROGRESS = (
    RenderState.AWAITING_APPROVAL,
    RenderState.ACCEPTED,
    RenderState.SUBMITTING,
    RenderState.QUEUED,
    RenderState.RENDERING,
    RenderState.SUCCEEDED,
)
COLOURS: dict[str, discord.Colour] = {
    "done": discord.Colour.green(),
    "failed": discord.Colour.red(),
    "ended": discord.Colour.dark_grey(),
    "approval": discord.Colour.gold(),
    "working": discord.Colour.blurple(),
}


def is_cancelled(render: RenderRecord) -> bool:
    return render.state is RenderState.FAILED and render.failure_kind is FailureKind.CANCELLED


def is_compare(group: Sequence[RenderRecord]) -> bool:
    """A compare is a group whose members differ by model."""
    return len({render.request.model for render in group}) > 1


def model_name(render: RenderRecord, models: ModelTable) -> str:
    spec = models.get(render.request.model)
    return spec.name if spec is not None else render.request.model


def member_label(render: RenderRecord, group: Sequence[RenderRecord], models: ModelTable) -> str:
    """How a member is named on the card and the result message: its model in a compare, else its take."""
    if is_compare(group):
        return model_name(render, models)
    return text.TAKE.format(number=render.take_index)


def member_details(render: RenderRecord, group: Sequence[RenderRecord]) -> list[str]:
    """What tells members apart besides their name: the seed of a take (to repeat it), the cost of a model."""
    details = []
    if is_compare(group):
        details.append(text.CREDITS.format(cost=render.cost))
        # What the member left out follows each model's own default: say where the models differ.
        if len({member.request.duration for member in group}) > 1:
            details.append(f"{render.request.duration} s")
        if len({member.request.sound for member in group}) > 1 and render.request.sound is not None:
            details.append("sound" if render.request.sound else "no sound")
    if render.request.seed is not None:
        details.append(text.SEED.format(seed=render.request.seed))
    return details


def rendered_in(render: RenderRecord) -> str | None:
    if render.finished_at is None or render.submitted_at is None:
        return None
    took = max(0, int((render.finished_at - render.submitted_at).total_seconds()))
    return text.RENDERED_IN.format(minutes=took // 60, seconds=took % 60)


def state_title(render: RenderRecord) -> str:
    """The title a render alone would have (the embed's): its state, and its progress while rendering."""
    title = text.CANCELLED_TITLE if is_cancelled(render) else text.STATE_TITLES[render.state]
    if render.state is RenderState.RENDERING and render.progress:
        title += f" · {render.progress}%"
    return title


def group_title(group: Sequence[RenderRecord]) -> tuple[str, str]:
    """The card's title and the name of its colour: a group of one reads as that render; a larger group as its
    members furthest along, with how many are done (or, once all ended, failed)."""
    first = group[0]
    if len(group) == 1:
        if is_cancelled(first) or first.state is RenderState.DENIED:
            return state_title(first), "ended"
        colour = {
            RenderState.DELIVERED: "done",
            RenderState.FAILED: "failed",
            RenderState.AWAITING_APPROVAL: "approval",
        }.get(first.state, "working")
        return state_title(first), colour
    count = len(group)
    kind = (text.GROUP_COMPARE if is_compare(group) else text.GROUP_TAKES).format(count=count)
    ended = [render for render in group if render.state in TERMINAL_STATES]
    delivered = sum(1 for render in ended if render.state is RenderState.DELIVERED)
    if any(render.state is RenderState.AWAITING_APPROVAL for render in group):
        return f"{text.STATE_TITLES[RenderState.AWAITING_APPROVAL]} · {kind}", "approval"
    if len(ended) == count:
        failed = count - delivered
        if delivered == count:
            return f"{text.STATE_TITLES[RenderState.DELIVERED]} · {kind}", "done"
        if delivered:
            summary = text.GROUP_FAILED_OF.format(failed=failed, count=count)
            return f"{text.STATE_TITLES[RenderState.DELIVERED]} · {kind} · {summary}", "done"
        if all(is_cancelled(render) for render in group):
            return f"{text.CANCELLED_TITLE} · {kind}", "ended"
        if all(render.state is RenderState.DENIED for render in group):
            return f"{text.STATE_TITLES[RenderState.DENIED]} · {kind}", "ended"
        return f"{text.STATE_TITLES[RenderState.FAILED]} · {kind}", "failed"
    furthest = max((r for r in group if r.state not in TERMINAL_STATES), key=lambda r: _PROGRESS.index(r.state))
    title = f"{text.STATE_TITLES[furthest.state]} · {kind}"
    if ended:
        title += " · " + text.GROUP_DONE_OF.format(done=len(ended), count=count)
    return title, "working"


def settings_line(group: Sequence[RenderRecord], models: ModelTable) -> str:
    """The settings every member shares, in one line: with its model and seed for a request of one take; without
    the seed for takes (each has its own); without the model for a compare (each member is a model)."""
    first = group[0]
    if len(group) == 1:
        return describe_settings(first.request, models.get(first.request.model))
    if not is_compare(group):
        return describe_settings(dataclasses.replace(first.request, seed=None), models.get(first.request.model))
    return compare_settings([render.request for render in group])


def compare_settings(requests: Sequence[VideoRequest]) -> str:
    """What the models of a compare share: everything but the model, its resolution and its seed, and but what
    differs between them (each model's line says that)."""
    first = requests[0]
    parts = [first.generation_mode.value, first.mode.value]
    if len({request.duration for request in requests}) == 1:
        parts.append(f"{first.duration} s")
    if first.aspect_ratio is not None:
        parts.append(first.aspect_ratio.value)
    if len({request.sound for request in requests}) == 1 and first.sound is not None:
        parts.append("sound" if first.sound else "no sound")
    if first.negative_prompt:
        parts.append("negative prompt")
    return " · ".join(parts)


def refund(render: RenderRecord) -> str:
    return text.TAKE_REFUNDED.format(cost=render.cost)


def failure(render: RenderRecord, render_timeout: float, limit: int) -> str:
    """Why a render ended without a clip (escaped, scrubbed, at most `limit`)."""
    if render.state is RenderState.DENIED:
        reason = text.STATE_TITLES[RenderState.DENIED].split(" ", 1)[-1] + "."
    else:
        reason = text.failure_reason(render.failure_kind, render.failure_detail, render_timeout)
    return fit.neutral(reason, limit)


def delivery_waiting(render: RenderRecord) -> str | None:
    """A finished clip Discord refuses for now: why, and until when the bot keeps trying."""
    if render.state is not RenderState.SUCCEEDED or not render.chat_blocked_reason or not render.chat_blocked_until:
        return None
    waiting = text.DELIVERY_BLOCKED.get(render.chat_blocked_reason, text.DELIVERY_BLOCKED["outage"])
    return waiting.format(until=text.ts(render.chat_blocked_until))


def started(render: RenderRecord) -> datetime | None:
    if render.state not in (RenderState.QUEUED, RenderState.RENDERING):
        return None
    return render.started_at or render.submitted_at


def member_state(render: RenderRecord, render_timeout: float, reason_limit: int) -> str:
    """A member's state in one phrase for its line on a group's card."""
    phrase = state_title(render)
    if render.state is RenderState.ACCEPTED and render.queue_place is not None:
        phrase += " · " + text.place_in_line(render.queue_place)
    since = started(render)
    if since is not None:
        phrase += f" · started {text.ts(since)}"
    waiting = delivery_waiting(render)
    if waiting is not None:
        phrase += " · " + waiting
    if render.state is RenderState.DELIVERED:
        took = rendered_in(render)
        if took:
            phrase += " · " + took
    if render.state in REFUNDED_STATES:
        if not is_cancelled(render):
            phrase += ": " + failure(render, render_timeout, reason_limit)
        phrase += " " + refund(render)
    return phrase


def is_waiting(render: RenderRecord) -> bool:
    return render.state in WAITING_STATES


def request_ids(group: Sequence[RenderRecord]) -> str:
    """The ids members give `/video show` (the first 8 characters of each render's)."""
    return text.REQUEST_IDS.format(ids=" · ".join(render.id[:8] for render in group))
