"""The status message of a render, as an embed: what a member sees in the channel while they wait."""

from __future__ import annotations

import discord

from bot.discord_app.ui import text
from bot.domain.models import ModelSpec
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import REFUNDED_STATES, RenderState

COLOURS: dict[RenderState, discord.Colour] = {
    RenderState.DELIVERED: discord.Colour.green(),
    RenderState.FAILED: discord.Colour.red(),
    RenderState.DENIED: discord.Colour.dark_grey(),
    RenderState.AWAITING_APPROVAL: discord.Colour.gold(),
}
PROMPT_LIMIT = 1000  # an embed description holds 4096, but a wall of text buries the state


def quote_prompt(prompt: str, limit: int = PROMPT_LIMIT) -> str:
    """The member's prompt made safe to echo: no markdown tricks, no pings, not too long."""
    clipped = prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(clipped))


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
    title = text.STATE_TITLES[render.state]
    if render.state is RenderState.RENDERING and render.progress:
        title += f" · {render.progress}%"
    if render.takes > 1:
        title += f" (take {render.take_index}/{render.takes})"
    embed = discord.Embed(
        title=title,
        description=quote_prompt(render.request.prompt),
        colour=COLOURS.get(render.state, discord.Colour.blurple()),
    )
    embed.add_field(name="Settings", value=describe_settings(render.request, model), inline=True)
    embed.add_field(name="Requested by", value=f"<@{render.user_id}>", inline=True)
    embed.add_field(name="Cost", value=f"{render.cost} credits", inline=True)
    if render.request.multi_shot and render.request.shots:
        shots = "\n".join(
            f"{i}. ({s.duration} s) {quote_prompt(s.prompt, 120)}" for i, s in enumerate(render.request.shots, 1)
        )
        embed.add_field(name="Storyboard", value=shots[:1024], inline=False)
    started = render.started_at or render.submitted_at
    if render.state in (RenderState.QUEUED, RenderState.RENDERING) and started is not None:
        embed.add_field(name="Started", value=text.ts(started), inline=True)
    if render.state is RenderState.DELIVERED:
        outcome = text.DONE_BELOW if render.result_message_id else text.DONE_ELSEWHERE
        if render.finished_at and render.submitted_at:
            took = int((render.finished_at - render.submitted_at).total_seconds())
            outcome += f" Rendered in {took // 60} min {took % 60} s."
        embed.add_field(name="Result", value=outcome, inline=False)
    if render.state is RenderState.FAILED:
        reason = text.failure_reason(render.failure_kind, render.failure_detail, render_timeout)
        embed.add_field(name="Why", value=discord.utils.escape_mentions(reason)[:1024], inline=False)
    if render.state in REFUNDED_STATES:
        embed.add_field(name="Credits", value=text.REFUNDED.format(cost=render.cost), inline=False)
    if render.decided_by is not None and render.state is not RenderState.AWAITING_APPROVAL:
        decided = text.DENIED_BY if render.state is RenderState.DENIED else text.APPROVED_BY
        embed.add_field(name="Moderation", value=decided.format(moderator=render.decided_by), inline=False)
    embed.set_footer(text=f"Request {render.id[:8]}")
    return embed
