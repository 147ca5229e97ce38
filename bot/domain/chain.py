"""Continue and Stitch, as rules: which model renders the next shot, what it inherits, and what a chain is.

A chain is a clip and the clips continued from it, each continuation starting from the last frame of the one
before. The first clip of a chain has position 1 once it is continued; each continuation is its parent's + 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.domain.errors import RequestValidationError
from bot.domain.models import ModelSpec, SoundSupport
from bot.domain.render import RenderRecord
from bot.domain.request import AttachmentRef, ChannelDefaults, GenerationMode, RawOptions, VideoRequest
from bot.domain.validation import ModelChoice, validate_options

# The first frame of a continuation: not an attachment of the member's but the frame the bot decodes. The
# validation sees it as an image given for `first_frame` (that is what makes the request image mode); its bytes
# are checked like any attachment's once decoded.
FRAME_OPTION = "first_frame"
FRAME_FILENAME = "last-frame.png"
MAX_DURATION_CHARS = 3  # "15" or "120": anything longer is not a length in seconds
# Stitch joins at most this many clips: a chain is walked parent by parent, and a longer one could not fit an
# upload limit anyway.
MAX_CHAIN_CLIPS = 20


@dataclass(frozen=True)
class ChainLink:
    """Where a continuation sits: the clip it continues and its position in the chain."""

    parent_id: str
    position: int

    @classmethod
    def after(cls, parent: RenderRecord) -> ChainLink:
        """The link of a shot continuing `parent`."""
        return cls(parent.id, (parent.chain_position or 1) + 1)

    @classmethod
    def of(cls, render: RenderRecord) -> ChainLink | None:
        """The link `render` itself has (None for a clip that continues nothing): a Regenerate or Remix of a
        continuation is another take of the same shot, continuing the same clip."""
        if render.parent_id is None or render.chain_position is None:
            return None
        return cls(render.parent_id, render.chain_position)


def can_stitch(render: RenderRecord) -> bool:
    """Stitch is offered on a clip that continues another (position 2 or more): only there is there a chain."""
    return render.parent_id is not None and (render.chain_position or 0) >= 2


def continuation_model(parent: VideoRequest, choice: ModelChoice) -> tuple[ModelSpec, str | None]:
    """The model of the next shot, and a note when it is not the clip's own.

    The clip's own model when it is usable here and has an image mode; else the server's default when that one
    has; else a RequestValidationError saying which models could.
    """
    usable = {spec.key: spec for spec in choice.usable()}
    own = usable.get(parent.model)
    if own is not None and own.mode(GenerationMode.IMAGE) is not None:
        return own, None
    default = usable.get(choice.default)
    known = choice.table.get(parent.model)
    name = known.label if known is not None else f"`{parent.model}`"
    if own is None:
        why = choice.unavailable.get(parent.model, "it is no longer offered")
        reason = f"{name} can't be used right now ({why})"
    else:
        reason = f"{name} has no image mode"
    if default is not None and default.mode(GenerationMode.IMAGE) is not None:
        return default, f"{reason}: {default.label} renders the next shot."
    others = [f"`{spec.key}`" for spec in usable.values() if spec.mode(GenerationMode.IMAGE) is not None]
    hint = f" Models here that can: {', '.join(others)}; ask a moderator to make one the default." if others else ""
    raise RequestValidationError(
        "model", f"I can't continue this clip: {reason}, and the default model here takes no first frame.{hint}"
    )


def parse_duration(value: str | None) -> int | None:
    """The modal's duration field: None when left blank, else whole seconds (the model's range is checked later)."""
    text = (value or "").strip().lower().removesuffix("s").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > MAX_DURATION_CHARS:
        raise RequestValidationError("duration", "`duration` must be a whole number of seconds, such as `5`.")
    return int(text)


def continuation_request(
    parent: VideoRequest,
    *,
    prompt: str,
    duration: str | None,
    choice: ModelChoice,
    defaults: ChannelDefaults,
) -> VideoRequest:
    """The next shot: an image-to-video request whose first frame is the clip's last, checked like any request.

    On the clip's own model it keeps the clip's settings (quality, negative prompt, cfg scale, watermark, sound)
    where image mode takes them, and its length when the member leaves the duration blank; on the default model
    only what the member typed carries over. Raises RequestValidationError with what to change.
    """
    model, note = continuation_model(parent, choice)
    seconds = parse_duration(duration)
    spec = model.mode(GenerationMode.IMAGE)
    assert spec is not None  # continuation_model only picks models with an image mode
    same = model.key == parent.model
    if same and seconds is None and spec.durations.allows(parent.duration):
        seconds = parent.duration
    raw = RawOptions(
        prompt=prompt,
        model=model.key,
        generation_mode=GenerationMode.IMAGE.value,
        duration=seconds,
        first_frame=AttachmentRef(FRAME_OPTION, FRAME_FILENAME, url="", size=0, content_type="image/png"),
        mode=parent.mode.value if same and parent.mode in spec.resolutions else None,
        negative_prompt=parent.negative_prompt if same and spec.negative_prompt_max is not None else None,
        cfg_scale=parent.cfg_scale if same and spec.cfg_scale else None,
        watermark=True if same and parent.watermark and spec.watermark else None,
        sound=parent.sound if same and spec.sound is SoundSupport.OPTIONAL else None,
    )
    request = validate_options(raw, defaults, choice)
    return request if note is None else replace(request, notes=(note, *request.notes))


def chain_order(clip: RenderRecord, ancestors: Sequence[RenderRecord]) -> list[RenderRecord]:
    """The chain ending at `clip`, first clip first, from its ancestors as found walking up (parent first).

    Raises ValueError when the records don't link up (a parent missing or from another server): a chain with a
    hole can't be stitched.
    """
    order = [clip]
    for ancestor in ancestors:
        if order[-1].parent_id != ancestor.id or ancestor.guild_id != clip.guild_id:
            raise ValueError("the chain is broken")
        order.append(ancestor)
    if order[-1].parent_id is not None:
        raise ValueError("the chain is broken")
    return list(reversed(order))
