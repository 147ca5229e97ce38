"""`/video generate` options checked against PRODUCT.md §1, before any byte is downloaded or credit reserved.

Pure: `validate_options` turns untrusted `RawOptions` into a normalised `VideoRequest` or raises
`RequestValidationError` naming the slash option to fix and saying what to change. Rules that need the image
bytes (type, dimensions, shape) live in `bot.domain.images`; the storyboard text in `bot.domain.storyboard`.
"""

from __future__ import annotations

import math
import re

from bot.domain.errors import RequestValidationError
from bot.domain.images import MAX_IMAGE_BYTES, format_megabytes
from bot.domain.request import (
    AspectRatio,
    AttachmentRef,
    ChannelDefaults,
    GenerationMode,
    ImageRole,
    QualityMode,
    RawOptions,
    VideoRequest,
)

MAX_PROMPT_CHARS = 2500
MAX_NEGATIVE_PROMPT_CHARS = 2500
MIN_DURATION = 3
MAX_DURATION = 15
DEFAULT_DURATION = 5
DEFAULT_CFG_SCALE = 0.5
MIN_TAKES = 1
MAX_TAKES = 4

IMAGE_MODE_ASPECT_NOTE = "`aspect_ratio` is ignored in image mode: the first frame decides the shape."

# How the prompt points at reference images; N is the number of the `reference_N` option.
IMAGE_MENTION = re.compile(r"<<<image_(\d+)>>>")

_ONE_MODE = "one mode at a time"


def attachments_of(raw: RawOptions) -> list[AttachmentRef]:
    """The attachments given, in a stable order: first_frame, last_frame, reference_1..reference_4."""
    return [ref for _, ref in _named_attachments(raw)]


def validate_options(raw: RawOptions, defaults: ChannelDefaults, *, model: str = "kling-v3") -> VideoRequest:
    """Check every option rule that needs no image bytes and return the normalised request.

    Omitted options take the channel's defaults, then the product's (std, 5 s, 16:9, cfg 0.5, 1 take, no
    watermark). The generation mode is inferred from the attachments when not given: frames mean image mode,
    references mean reference mode, nothing means text mode. In image mode `aspect_ratio` is None (the first
    frame decides) and, when the member chose one, a note in `notes` says it was ignored.

    Multi-shot: the request comes back with `multi_shot=True` and no shots yet. Its `duration` is the
    member's `duration` when given, which the storyboard must then add up to exactly (pass `raw.duration` as
    `total` to `parse_storyboard`); when omitted the storyboard decides the total and `duration` is only a
    placeholder (channel default, else 5) until `VideoRequest.with_shots` replaces it with the sum.

    Raises `RequestValidationError(option, message)` with `option` the exact slash option name.
    """
    prompt = _check_prompt(raw.prompt)
    mode = _check_quality_mode(raw.mode, defaults)
    duration = _check_duration(raw.duration, defaults)
    explicit_ratio = _check_aspect_ratio(raw.aspect_ratio)
    negative_prompt = _check_negative_prompt(raw.negative_prompt, defaults)
    cfg_scale = _check_cfg_scale(raw.cfg_scale)
    takes = _check_takes(raw.takes)
    _check_declared_attachments(raw)

    generation_mode = _resolve_generation_mode(raw)
    _check_multi_shot(raw)
    _check_mentions(raw, prompt)

    notes: list[str] = []
    aspect_ratio: AspectRatio | None
    if generation_mode is GenerationMode.IMAGE:
        aspect_ratio = None
        if explicit_ratio is not None:
            notes.append(IMAGE_MODE_ASPECT_NOTE)
    else:
        aspect_ratio = explicit_ratio or defaults.aspect_ratio or AspectRatio.WIDE

    return VideoRequest(
        prompt=prompt,
        generation_mode=generation_mode,
        mode=mode,
        duration=duration,
        aspect_ratio=aspect_ratio,
        negative_prompt=negative_prompt,
        cfg_scale=cfg_scale,
        watermark=bool(raw.watermark),
        multi_shot=raw.multi_shot,
        takes=takes,
        model=model,
        notes=tuple(notes),
    )


def _named_attachments(raw: RawOptions) -> list[tuple[str, AttachmentRef]]:
    # Names come from the position, not from AttachmentRef.option, so messages always match the slash option.
    named: list[tuple[str, AttachmentRef | None]] = [("first_frame", raw.first_frame), ("last_frame", raw.last_frame)]
    named += [(f"reference_{n}", ref) for n, ref in enumerate(raw.references, start=1)]
    return [(name, ref) for name, ref in named if ref is not None]


def _given_references(raw: RawOptions) -> list[int]:
    return [n for n, ref in enumerate(raw.references, start=1) if ref is not None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_prompt(prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise RequestValidationError("prompt", "`prompt` is empty; describe what the clip should show.")
    if len(text) > MAX_PROMPT_CHARS:
        raise RequestValidationError(
            "prompt",
            f"`prompt` is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}. "
            f"Shorten it by {len(text) - MAX_PROMPT_CHARS} characters.",
        )
    return text


def _check_quality_mode(value: str | None, defaults: ChannelDefaults) -> QualityMode:
    if value is None:
        return defaults.mode or QualityMode.STD
    try:
        return QualityMode(value.strip().lower())
    except ValueError:
        raise RequestValidationError(
            "mode", f"`mode` must be `std` (720p, faster) or `pro` (1080p); you gave `{value}`."
        ) from None


def _check_duration(value: int | None, defaults: ChannelDefaults) -> int:
    if value is None:
        return defaults.duration or DEFAULT_DURATION
    if not _is_int(value):
        raise RequestValidationError(
            "duration", f"`duration` must be a whole number of seconds between {MIN_DURATION} and {MAX_DURATION}."
        )
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise RequestValidationError(
            "duration",
            f"`duration` must be between {MIN_DURATION} and {MAX_DURATION} seconds; you gave {value}.",
        )
    return value


def _check_aspect_ratio(value: str | None) -> AspectRatio | None:
    """The ratio the member chose, or None when they chose none (defaults are applied once the mode is known)."""
    if value is None:
        return None
    try:
        return AspectRatio(value.strip())
    except ValueError:
        choices = ", ".join(f"`{ratio.value}`" for ratio in AspectRatio)
        raise RequestValidationError(
            "aspect_ratio", f"`aspect_ratio` must be one of {choices}; you gave `{value}`."
        ) from None


def _check_negative_prompt(value: str | None, defaults: ChannelDefaults) -> str | None:
    # Whitespace only counts as not given, so the channel default still applies.
    text = value.strip() if value is not None else ""
    if not text:
        return defaults.negative_prompt or None
    if len(text) > MAX_NEGATIVE_PROMPT_CHARS:
        raise RequestValidationError(
            "negative_prompt",
            f"`negative_prompt` is {len(text)} characters long; the limit is {MAX_NEGATIVE_PROMPT_CHARS}. "
            f"Shorten it by {len(text) - MAX_NEGATIVE_PROMPT_CHARS} characters.",
        )
    return text


def _check_cfg_scale(value: float | None) -> float:
    if value is None:
        return DEFAULT_CFG_SCALE
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestValidationError("cfg_scale", "`cfg_scale` must be a number between 0 and 1.")
    if not 0 <= value <= 1:
        raise RequestValidationError("cfg_scale", f"`cfg_scale` must be between 0 and 1; you gave {value:g}.")
    return float(value)


def _check_takes(value: int | None) -> int:
    if value is None:
        return MIN_TAKES
    if not _is_int(value) or not MIN_TAKES <= value <= MAX_TAKES:
        raise RequestValidationError("takes", f"`takes` must be between {MIN_TAKES} and {MAX_TAKES}; you gave {value}.")
    return value


def _check_declared_attachments(raw: RawOptions) -> None:
    """Refuse what Discord already tells us is too big or not an image; the bytes are judged later."""
    for name, ref in _named_attachments(raw):
        if ref.size > MAX_IMAGE_BYTES:
            raise RequestValidationError(
                name,
                f"`{name}` is {format_megabytes(ref.size)}; images must be 10 MB or smaller. Attach a smaller file.",
            )
        declared = (ref.content_type or "").split(";", 1)[0].strip().lower()
        if declared and not declared.startswith("image/"):
            raise RequestValidationError(name, f"`{name}` is not an image (`{declared}`); attach a PNG or JPEG.")


def _resolve_generation_mode(raw: RawOptions) -> GenerationMode:
    """The mode asked for, or inferred from the attachments, checked against what was attached."""
    has_first, has_last = raw.first_frame is not None, raw.last_frame is not None
    references = _given_references(raw)
    frame_names = [name for name, given in (("first_frame", has_first), ("last_frame", has_last)) if given]

    if frame_names and references:
        raise RequestValidationError(
            f"reference_{references[0]}",
            f"Frames ({_code_list(frame_names)}) and references (`reference_{references[0]}`) can't be mixed: "
            f"{_ONE_MODE}. Remove the frames for reference mode, or the references for image mode.",
        )
    if has_last and not has_first:
        raise RequestValidationError(
            "last_frame", "`last_frame` needs a `first_frame`: attach a start frame too, or remove `last_frame`."
        )

    inferred = GenerationMode.IMAGE if frame_names else GenerationMode.REFERENCE if references else GenerationMode.TEXT
    if raw.generation_mode is None:
        requested = inferred
    else:
        try:
            requested = GenerationMode(raw.generation_mode.strip().lower())
        except ValueError:
            raise RequestValidationError(
                "generation_mode",
                f"`generation_mode` must be `text`, `image` or `reference`; you gave `{raw.generation_mode}`.",
            ) from None

    attached = _code_list(frame_names + [f"reference_{n}" for n in references])
    if requested is GenerationMode.TEXT and attached:
        raise RequestValidationError(
            "generation_mode",
            f"`generation_mode` is `text` but you attached {attached}: {_ONE_MODE}. "
            "Remove the attachments, or pick the mode that uses them.",
        )
    if requested is GenerationMode.IMAGE:
        if references:
            raise RequestValidationError(
                "generation_mode",
                f"`generation_mode` is `image` but you attached {attached}: {_ONE_MODE}. "
                "Image mode takes `first_frame` (and optionally `last_frame`); pick `reference` for references.",
            )
        if not has_first:
            raise RequestValidationError(
                "first_frame",
                "`generation_mode` is `image` but no `first_frame` is attached: attach the start frame, "
                "or pick another mode.",
            )
    if requested is GenerationMode.REFERENCE:
        if frame_names:
            raise RequestValidationError(
                "generation_mode",
                f"`generation_mode` is `reference` but you attached {attached}: {_ONE_MODE}. "
                "Reference mode takes `reference_1`..`reference_4`; pick `image` for frames.",
            )
        if not references:
            raise RequestValidationError(
                "reference_1",
                "`generation_mode` is `reference` but no reference image is attached: attach `reference_1` "
                "(and more in order), or pick another mode.",
            )
    return requested


def _check_multi_shot(raw: RawOptions) -> None:
    if not raw.multi_shot:
        return
    if raw.last_frame is not None:
        raise RequestValidationError(
            "last_frame",
            "`last_frame` can't be used with `multi_shot`: a storyboard has no end frame. "
            "Remove `last_frame`, or turn `multi_shot` off.",
        )
    references = _given_references(raw)
    if references:
        raise RequestValidationError(
            "multi_shot",
            f"`multi_shot` works in text or image mode only, not with references (`reference_{references[0]}`). "
            "Remove the references, or turn `multi_shot` off.",
        )


def _check_mentions(raw: RawOptions, prompt: str) -> None:
    """Each reference given is mentioned as `<<<image_N>>>`, and nothing else is.

    References must be given in order from `reference_1` without gaps: the API numbers images by their position
    in the list, so a gap would silently point `<<<image_3>>>` at the second image. Renumbering for the member
    would change what their prompt says, so we ask instead.
    """
    given = _given_references(raw)
    for position, n in enumerate(given, start=1):
        if n != position:
            raise RequestValidationError(
                f"reference_{n}",
                f"`reference_{n}` is attached but `reference_{position}` is not: use `reference_1`, `reference_2`.. "
                f"in order without gaps (and renumber the `<<<image_N>>>` mentions to match).",
            )
    mentioned = {int(number) for number in IMAGE_MENTION.findall(prompt)}
    for n in given:
        if n not in mentioned:
            raise RequestValidationError(
                f"reference_{n}",
                f"`reference_{n}` is attached but `prompt` never mentions it: "
                f"add `<<<image_{n}>>>` to `prompt` where that image belongs.",
            )
    unknown = sorted(mentioned - set(given))
    if unknown:
        n = unknown[0]
        raise RequestValidationError(
            "prompt",
            f"`prompt` mentions `<<<image_{n}>>>` but no `reference_{n}` is attached: "
            f"attach `reference_{n}`, or remove the mention.",
        )


def _code_list(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def revalidate_prompt(request: VideoRequest, prompt: str) -> VideoRequest:
    """The same request with a new prompt (Remix), checked against the images the request already carries."""
    text = _check_prompt(prompt)
    given = sorted(slot.index for slot in request.images if slot.role is ImageRole.REFERENCE)
    mentioned = {int(number) for number in IMAGE_MENTION.findall(text)}
    missing = [n for n in given if n not in mentioned]
    if missing:
        raise RequestValidationError(
            "prompt", f"The new prompt must still mention `<<<image_{missing[0]}>>>`: this request has that image."
        )
    unknown = sorted(mentioned - set(given))
    if unknown:
        raise RequestValidationError(
            "prompt", f"The new prompt mentions `<<<image_{unknown[0]}>>>` but this request has no such image."
        )
    return request.with_prompt(text)
