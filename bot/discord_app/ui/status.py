"""The status message of a render, as an embed: what a member sees in the channel while they wait."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.discord_app.ui import fit, text
from bot.domain.models import ModelSpec
from bot.domain.render import RenderRecord
from bot.domain.request import Shot, VideoRequest
from bot.domain.states import REFUNDED_STATES, FailureKind, RenderState

COLOURS: dict[RenderState, discord.Colour] = {
    RenderState.DELIVERED: discord.Colour.green(),
    RenderState.FAILED: discord.Colour.red(),
    RenderState.DENIED: discord.Colour.dark_grey(),
    RenderState.AWAITING_APPROVAL: discord.Colour.gold(),
}
PROMPT_LIMIT = 1000  # an embed description holds 4096, but a wall of text buries the state


def quote_prompt(prompt: str, limit: int = PROMPT_LIMIT) -> str:
    """The member's prompt made safe to echo: no markdown tricks, no pings, at most `limit` once escaped."""
    return fit.quote(prompt, limit)


def storyboard_lines(shots: Sequence[Shot], limit: int | None = fit.FIELD_VALUE_LIMIT) -> str:
    """The shots, numbered with their lengths and escaped, in at most `limit` (None: whole): when they don't
    fit, short shots stay whole and the long ones share the rest evenly, so each keeps its start."""
    prefixes = [f"{number}. ({shot.duration} s) " for number, shot in enumerate(shots, start=1)]
    needs = [fit.size(fit.escape(shot.prompt)) for shot in shots]
    if limit is None:
        limit = sum(needs) + sum(fit.size(prefix) for prefix in prefixes) + len(shots)
    room = limit - sum(fit.size(prefix) for prefix in prefixes) - max(0, len(shots) - 1)
    shares = fit.shares(needs, room)
    return "\n".join(
        prefix + fit.quote(shot.prompt, share) for prefix, shot, share in zip(prefixes, shots, shares, strict=True)
    )


def describe_settings(request: VideoRequest, model: ModelSpec | None = None) -> str:
    """One line: model, mode, resolution, length, shape, sound and seed, then whatever else was asked for."""
    spec = model.mode(request.generation_mode) if model is not None else None
    resolution = spec.resolutions.get(request.mode) if spec is not None else None
    parts = [
        model.name if model is not None else request.model,
        request.generation_mode.value,
        f"{request.mode.value} ({resolution})" if resolution else request.mode.value,
        f"{request.duration} s",
    ]
    if request.aspect_ratio is not None:
        parts.append(request.aspect_ratio.value)
    if request.sound is not None:
        parts.append("sound" if request.sound else "no sound")
    if request.seed is not None:
        parts.append(f"seed {request.seed}")
    if request.multi_shot:
        parts.append(f"{len(request.shots)} shots")
    if request.negative_prompt:
        parts.append("negative prompt")
    if request.watermark:
        parts.append("watermark")
    if request.cfg_scale != 0.5:
        parts.append(f"cfg {request.cfg_scale:g}")
    return " · ".join(parts)


def status_embed(render: RenderRecord, *, render_timeout: float, model: ModelSpec | None = None) -> discord.Embed:
    cancelled = render.state is RenderState.FAILED and render.failure_kind is FailureKind.CANCELLED
    title = text.CANCELLED_TITLE if cancelled else text.STATE_TITLES[render.state]
    if render.state is RenderState.RENDERING and render.progress:
        title += f" · {render.progress}%"
    if render.takes > 1:
        title += f" (take {render.take_index}/{render.takes})"
    embed = discord.Embed(
        title=fit.clip(title, fit.EMBED_TITLE_LIMIT),
        description=quote_prompt(render.request.prompt),
        colour=discord.Colour.dark_grey() if cancelled else COLOURS.get(render.state, discord.Colour.blurple()),
    )
    settings = describe_settings(render.request, model)
    embed.add_field(name="Settings", value=fit.clip(settings, fit.FIELD_VALUE_LIMIT), inline=True)
    embed.add_field(name="Requested by", value=f"<@{render.user_id}>", inline=True)
    embed.add_field(name="Cost", value=f"{render.cost} credits", inline=True)
    if render.request.multi_shot and render.request.shots:
        embed.add_field(name="Storyboard", value=storyboard_lines(render.request.shots), inline=False)
    if render.state is RenderState.ACCEPTED and render.queue_place is not None:
        embed.add_field(name=text.PLACE_FIELD, value=text.place_in_line(render.queue_place), inline=False)
    started = render.started_at or render.submitted_at
    if render.state in (RenderState.QUEUED, RenderState.RENDERING) and started is not None:
        embed.add_field(name="Started", value=text.ts(started), inline=True)
    if render.state is RenderState.SUCCEEDED and render.chat_blocked_reason and render.chat_blocked_until:
        waiting = text.DELIVERY_BLOCKED.get(render.chat_blocked_reason, text.DELIVERY_BLOCKED["outage"])
        embed.add_field(name="Delivery", value=waiting.format(until=text.ts(render.chat_blocked_until)), inline=False)
    if render.state is RenderState.DELIVERED:
        outcome = text.DONE_BELOW if render.result_message_id else text.DONE_ELSEWHERE
        if render.finished_at and render.submitted_at:
            took = int((render.finished_at - render.submitted_at).total_seconds())
            outcome += f" Rendered in {took // 60} min {took % 60} s."
        embed.add_field(name="Result", value=outcome, inline=False)
    if render.state is RenderState.FAILED:
        reason = text.failure_reason(render.failure_kind, render.failure_detail, render_timeout)
        embed.add_field(name="Why", value=fit.neutral(reason, fit.FIELD_VALUE_LIMIT), inline=False)
    if render.state in REFUNDED_STATES:
        embed.add_field(name="Credits", value=text.REFUNDED.format(cost=render.cost), inline=False)
    if cancelled and render.decided_by is not None:
        embed.add_field(name="Cancelled", value=text.CANCELLED_BY.format(user=render.decided_by), inline=False)
    elif render.decided_by is not None and render.state is not RenderState.AWAITING_APPROVAL:
        decided = text.DENIED_BY if render.state is RenderState.DENIED else text.APPROVED_BY
        embed.add_field(name="Moderation", value=decided.format(moderator=render.decided_by), inline=False)
    embed.set_footer(text=f"Request {render.id[:8]}")
    return embed
