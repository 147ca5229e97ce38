"""The `/video models` card: what each model enabled in the server accepts, and what a second of it costs."""

from __future__ import annotations

from collections.abc import Callable

import discord

from bot.domain.models import ModelSpec, ModeSpec, SoundSupport
from bot.domain.request import GenerationMode, QualityMode
from bot.domain.validation import ModelChoice

TITLE = "Video models"
INTRO = "Pick one with `model` in `/video generate`. Costs are credits per second of video."
# An embed holds 25 fields of 1,024 characters and 6,000 characters in all; room is kept for the last two fields.
FIELD_LIMIT = 1024
MAX_FIELDS = 23
EMBED_BUDGET = 6000 - 2 * FIELD_LIMIT


def models_embed(choice: ModelChoice) -> discord.Embed:
    """One field per usable model (the default first), then what is turned off or unavailable here."""
    usable = sorted(choice.usable(), key=lambda spec: spec.key != choice.default)
    embed = discord.Embed(title=TITLE, description=INTRO, colour=discord.Colour.blurple())
    shown = 0
    for spec in usable[:MAX_FIELDS]:
        name = (spec.label + (" · default here" if spec.key == choice.default else ""))[:256]
        value = describe_model(spec)[:FIELD_LIMIT]
        if len(embed) + len(name) + len(value) > EMBED_BUDGET:
            break
        embed.add_field(name=name, value=value, inline=False)
        shown += 1
    if shown < len(usable):
        rest = ", ".join(f"`{spec.key}`" for spec in usable[shown:])
        embed.add_field(name="More models", value=rest[:FIELD_LIMIT], inline=False)
    off = [f"`{key}`: {reason}" for key, reason in choice.unavailable.items() if key in choice.table]
    if off:
        embed.add_field(name="Not available here", value="\n".join(off)[:FIELD_LIMIT], inline=False)
    if not usable:
        embed.description = "No model is available in this server right now; ask a moderator."
    return embed


def describe_model(spec: ModelSpec) -> str:
    """What the model takes, in a few short lines (mode by mode only where modes differ)."""
    lines = [_modes_line(spec)]
    first = next(iter(spec.modes.values()))
    lines.append(f"Length {_spread(spec, lambda m: m.durations.describe())} · {_qualities(first)}")
    shaped = [mode for gm, mode in spec.modes.items() if gm is not GenerationMode.IMAGE]
    if shaped:
        ratios = sorted({ratio.value for mode in shaped for ratio in mode.aspect_ratios}, key=_ratio_order)
        lines.append(f"Shapes {', '.join(ratios)} (image mode follows the image)")
    lines.append(" · ".join(_extras(spec)))
    lines.append(_cost_line(spec))
    return "\n".join(lines)


def _modes_line(spec: ModelSpec) -> str:
    parts = []
    for generation_mode, mode in spec.modes.items():
        if generation_mode is GenerationMode.IMAGE:
            parts.append("image (first + last frame)" if mode.last_frame else "image (first frame)")
        elif generation_mode is GenerationMode.REFERENCE:
            parts.append(f"reference (up to {mode.max_references} images)")
        else:
            parts.append("text")
    return "Modes: " + ", ".join(parts)


def _spread(spec: ModelSpec, describe: Callable[[ModeSpec], str]) -> str:
    """A per-mode value, said once when every mode agrees."""
    values = {gm: describe(mode) for gm, mode in spec.modes.items()}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{value} ({gm.value})" for gm, value in values.items())


def _qualities(mode: ModeSpec) -> str:
    return ", ".join(f"`{quality.value}` {label}" for quality, label in mode.resolutions.items())


def _extras(spec: ModelSpec) -> list[str]:
    modes = list(spec.modes.values())
    sounds = {mode.sound for mode in modes}
    if sounds == {SoundSupport.NONE}:
        sound = "silent"
    elif sounds == {SoundSupport.ALWAYS}:
        sound = "always with sound"
    else:
        default = any(mode.sound_default for mode in modes if mode.sound is SoundSupport.OPTIONAL)
        sound = f"sound on/off (default {'on' if default else 'off'})"
        always = [gm.value for gm, mode in spec.modes.items() if mode.sound is SoundSupport.ALWAYS]
        if always:
            sound += f", always with sound in {', '.join(always)} mode"
    extras = [sound]
    if any(mode.seed for mode in modes):
        extras.append("seed")
    limits = {mode.negative_prompt_max for mode in modes if mode.negative_prompt_max is not None}
    if limits:
        extras.append(f"negative prompt (≤{max(limits)})")
    if any(mode.cfg_scale for mode in modes):
        extras.append("cfg_scale")
    if any(mode.watermark for mode in modes):
        extras.append("watermark")
    if any(mode.multi_shot for mode in modes):
        extras.append("storyboard")
    return extras


def _cost_line(spec: ModelSpec) -> str:
    qualities = {quality for mode in spec.modes.values() for quality in mode.resolutions}
    rates = [f"{spec.cost.std}/s std" if QualityMode.STD in qualities else ""]
    rates.append(f"{spec.cost.pro}/s pro" if QualityMode.PRO in qualities else "")
    line = "Cost: " + ", ".join(rate for rate in rates if rate)
    if spec.cost.sound and any(mode.sound is not SoundSupport.NONE for mode in spec.modes.values()):
        line += f", +{spec.cost.sound}/s with sound"
    return line


def _ratio_order(ratio: str) -> int:
    order = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
    return order.index(ratio) if ratio in order else len(order)
