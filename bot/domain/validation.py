"""`/video generate` options checked against PRODUCT.md §1, before any byte is downloaded or credit reserved.

Pure: `validate_options` turns untrusted `RawOptions` into a normalised `VideoRequest` or raises
`RequestValidationError` naming the slash option to fix and saying what to change. Rules that need the image
bytes (type, dimensions, shape) live in `bot.domain.images`; the storyboard text in `bot.domain.storyboard`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.errors import RequestValidationError
from bot.domain.images import MAX_IMAGE_BYTES, format_megabytes
from bot.domain.models import ModelSpec, ModelTable, ModeSpec, SoundSupport, load_model_table
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
# Discord's range for `duration` is the union of every model's; each model then checks its own.
MIN_DURATION = 1
MAX_DURATION = 16
DEFAULT_CFG_SCALE = 0.5
MIN_TAKES = 1
MAX_TAKES = 4
MAX_SEED = 2_147_483_647

IMAGE_MODE_ASPECT_NOTE = "`aspect_ratio` is ignored in image mode: the first frame decides the shape."

# How the prompt points at reference images; N is the number of the `reference_N` option.
IMAGE_MENTION = re.compile(r"<<<image_(\d+)>>>")

_ONE_MODE = "one mode at a time"


@dataclass(frozen=True)
class ModelChoice:
    """The models a member may pick here and now, and the default when they pick none.

    `unavailable` says why a known model can't be used here (turned off in this server, or off for a while
    after the gateway said it has no channel for it); `default` is the server's default, else the bot's.
    """

    table: ModelTable
    default: str
    unavailable: Mapping[str, str] = field(default_factory=dict)

    def usable(self) -> list[ModelSpec]:
        return [spec for spec in self.table.enabled() if spec.key not in self.unavailable]


@functools.cache
def shipped_choice() -> ModelChoice:
    """Every shipped model, `kling-v3` by default: what tests and tools use when no server is involved."""
    return ModelChoice(load_model_table(), "kling-v3")


def attachments_of(raw: RawOptions) -> list[AttachmentRef]:
    """The attachments given, in a stable order: first_frame, last_frame, reference_1..reference_4."""
    return [ref for _, ref in _named_attachments(raw)]


def validate_options(raw: RawOptions, defaults: ChannelDefaults, choice: ModelChoice | None = None) -> VideoRequest:
    """Check every option rule that needs no image bytes and return the normalised request.

    The model is the member's choice, else the channel's default, else the server's (`choice.default`). Every
    option is then checked against that model's entry in the table, in the generation mode asked for or
    inferred from the attachments (frames mean image mode, references reference mode, nothing text mode). An
    option the model does not take is an error naming the option, the model, and the models that take it;
    nothing the member chose is dropped. A channel default the model can't use is left out with a note.

    Omitted options take the channel's defaults, then the model's (std, its default length, 16:9 or its first
    ratio, its own sound default). In image mode `aspect_ratio` is None (the first frame decides) and, when the
    member chose one, a note in `notes` says it was ignored. A model that takes a seed gets one when the render
    is accepted (see `with_take_seeds`), unless the member gave it.

    Multi-shot: the request comes back with `multi_shot=True` and no shots yet. Its `duration` is the
    member's `duration` when given, which the storyboard must then add up to exactly (pass `raw.duration` as
    `total` to `parse_storyboard`); when omitted the storyboard decides the total and `duration` is only a
    placeholder until `VideoRequest.with_shots` replaces it with the sum.

    Raises `RequestValidationError(option, message)` with `option` the exact slash option name.
    """
    choice = choice or shipped_choice()
    notes: list[str] = []
    model = _resolve_model(raw, defaults, choice, notes)
    prompt = _check_prompt(raw.prompt)
    takes = _check_takes(raw.takes)
    _check_declared_attachments(raw)
    generation_mode = _resolve_generation_mode(raw)
    spec = _mode_of(model, generation_mode, choice)

    _check_prompt_length(prompt, model, spec)
    mode = _check_quality_mode(raw.mode, defaults, model, spec, notes)
    duration = _check_duration(raw.duration, defaults, model, spec, notes)
    explicit_ratio = _check_aspect_ratio(raw.aspect_ratio)
    negative_prompt = _check_negative_prompt(raw.negative_prompt, defaults, model, spec, choice, notes)
    cfg_scale = _check_cfg_scale(raw.cfg_scale, model, spec, choice)
    sound = _check_sound(raw.sound, defaults, model, spec, choice, notes)
    seed = _check_seed(raw.seed, model, spec, choice)
    watermark = _check_watermark(raw.watermark, model, spec, choice)
    _check_model_images(raw, model, spec, choice)
    _check_multi_shot(raw, model, spec, choice)
    _check_mentions(raw, prompt)

    aspect_ratio: AspectRatio | None
    if generation_mode is GenerationMode.IMAGE:
        aspect_ratio = None
        if explicit_ratio is not None:
            notes.append(IMAGE_MODE_ASPECT_NOTE)
    elif explicit_ratio is not None:
        if explicit_ratio not in spec.aspect_ratios:
            raise _unsupported_value(
                "aspect_ratio",
                explicit_ratio.value,
                model,
                [r.value for r in spec.aspect_ratios],
                choice,
                lambda other: explicit_ratio in _mode_or_empty(other, generation_mode, "aspect_ratios"),
            )
        aspect_ratio = explicit_ratio
    else:
        aspect_ratio = _default_ratio(defaults, spec, notes)

    return VideoRequest(
        prompt=prompt,
        generation_mode=generation_mode,
        mode=mode,
        duration=duration,
        aspect_ratio=aspect_ratio,
        negative_prompt=negative_prompt,
        cfg_scale=cfg_scale,
        watermark=watermark,
        multi_shot=raw.multi_shot,
        takes=takes,
        model=model.key,
        sound=sound,
        seed=seed,
        notes=tuple(notes),
    )


def with_take_seeds(request: VideoRequest, spec: ModelSpec, draw: Callable[[], int]) -> list[VideoRequest]:
    """One request per take. A model that takes a seed gets one per take, so each take can be repeated: the
    member's seed and the next ones up, or drawn at random (`draw`) when the member gave none."""
    mode = spec.mode(request.generation_mode)
    if mode is None or not mode.seed:
        return [request.with_seed(None)] * request.takes
    if request.seed is None:
        return [request.with_seed(draw() % (MAX_SEED + 1)) for _ in range(request.takes)]
    return [request.with_seed((request.seed + take) % (MAX_SEED + 1)) for take in range(request.takes)]


# ---- the model -----------------------------------------------------------------------------------------


def _resolve_model(raw: RawOptions, defaults: ChannelDefaults, choice: ModelChoice, notes: list[str]) -> ModelSpec:
    usable = choice.usable()
    if raw.model is not None:
        key = raw.model.strip()
        spec = choice.table.get(key)
        if spec is None or not spec.enabled:
            raise RequestValidationError("model", f"`model` `{key}` is not a model this bot offers; {_pick(usable)}")
        if key in choice.unavailable:
            raise RequestValidationError(
                "model", f"{spec.label} can't be used right now: {choice.unavailable[key]}. {_pick(usable, 'Pick')}"
            )
        return spec
    channel = choice.table.get(defaults.model) if defaults.model else None
    if channel is not None and channel.enabled and channel.key not in choice.unavailable:
        return channel
    server = choice.table.get(choice.default)
    if server is None or not server.enabled or server.key in choice.unavailable:
        why = choice.unavailable.get(choice.default, "it is no longer offered")
        name = server.label if server is not None else f"`{choice.default}`"
        raise RequestValidationError(
            "model", f"The default model here, {name}, can't be used right now: {why}. {_pick(usable, 'Pick')}"
        )
    if defaults.model is not None:
        # The member chose nothing: the server's default stands in for a channel default that can't be used.
        why = choice.unavailable.get(defaults.model, "it is no longer offered")
        notes.append(
            f"This channel's default model `{defaults.model}` can't be used ({why}): {server.label} renders it."
        )
    return server


def _pick(usable: list[ModelSpec], verb: str = "pick") -> str:
    if not usable:
        return f"{verb} none: no model is available in this server right now; ask a moderator."
    return f"{verb} one with `model`: {_code_list([spec.key for spec in usable])}."


def _mode_of(model: ModelSpec, generation_mode: GenerationMode, choice: ModelChoice) -> ModeSpec:
    spec = model.mode(generation_mode)
    if spec is not None:
        return spec
    others = [m.key for m in choice.usable() if m.mode(generation_mode) is not None]
    option = {
        GenerationMode.TEXT: "generation_mode",
        GenerationMode.IMAGE: "first_frame",
        GenerationMode.REFERENCE: "reference_1",
    }[generation_mode]
    has = ", ".join(f"`{mode.value}`" for mode in model.modes)
    raise RequestValidationError(
        option,
        f"{model.label} has no {generation_mode.value} mode (it has {has}). "
        + (f"Models with {generation_mode.value} mode: {_code_list(others)}." if others else ""),
    )


def _mode_or_empty(model: ModelSpec, generation_mode: GenerationMode, attribute: str) -> Any:
    spec = model.mode(generation_mode)
    return getattr(spec, attribute) if spec is not None else ()


def _unsupported(option: str, model: ModelSpec, choice: ModelChoice, offers: Callable[[ModelSpec], bool]) -> Exception:
    others = [m.key for m in choice.usable() if m.key != model.key and offers(m)]
    where = f"Models that take it: {_code_list(others)}; pick one with `model`" if others else "No model here takes it"
    return RequestValidationError(option, f"{model.label} doesn't take `{option}`. {where}, or leave `{option}` out.")


def _unsupported_value(
    option: str,
    given: str,
    model: ModelSpec,
    accepted: list[str],
    choice: ModelChoice,
    offers: Callable[[ModelSpec], bool],
) -> Exception:
    others = [m.key for m in choice.usable() if m.key != model.key and offers(m)]
    message = f"{model.label} doesn't take `{option}` `{given}`; it takes {_code_list(accepted)}."
    if others:
        message += f" Models that take `{given}`: {_code_list(others)}."
    return RequestValidationError(option, message)


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


def _check_prompt_length(prompt: str, model: ModelSpec, spec: ModeSpec) -> None:
    if len(prompt) > spec.prompt_max:
        raise RequestValidationError(
            "prompt",
            f"`prompt` is {len(prompt)} characters long; {model.label} takes at most {spec.prompt_max}. "
            f"Shorten it by {len(prompt) - spec.prompt_max} characters.",
        )


def _check_quality_mode(
    value: str | None, defaults: ChannelDefaults, model: ModelSpec, spec: ModeSpec, notes: list[str]
) -> QualityMode:
    offered = ", ".join(f"`{quality.value}` ({label})" for quality, label in spec.resolutions.items())
    if value is None:
        wanted = defaults.mode or QualityMode.STD
        if wanted in spec.resolutions:
            return wanted
        # Neither the member nor (usefully) the channel chose: the model's own quality it is.
        fallback = next(iter(spec.resolutions))
        if defaults.mode is not None:
            notes.append(
                f"The channel's default quality (`{wanted.value}`) doesn't fit {model.label}; "
                f"it renders `{fallback.value}`."
            )
        return fallback
    try:
        quality = QualityMode(value.strip().lower())
    except ValueError:
        raise RequestValidationError(
            "mode", f"`mode` must be `std` (720p, faster) or `pro` (1080p); you gave `{value}`."
        ) from None
    if quality not in spec.resolutions:
        raise RequestValidationError("mode", f"{model.label} takes `mode` {offered}; you gave `{quality.value}`.")
    return quality


def _check_duration(
    value: int | None, defaults: ChannelDefaults, model: ModelSpec, spec: ModeSpec, notes: list[str]
) -> int:
    if value is None:
        if defaults.duration is not None:
            if spec.durations.allows(defaults.duration):
                return defaults.duration
            notes.append(
                f"The channel's default length ({defaults.duration} s) doesn't fit {model.label} "
                f"({spec.durations.describe()}); it renders {spec.default_duration} s."
            )
        return spec.default_duration
    if not _is_int(value):
        raise RequestValidationError(
            "duration", f"`duration` must be a whole number of seconds ({spec.durations.describe()} for {model.label})."
        )
    if not spec.durations.allows(value):
        raise RequestValidationError(
            "duration",
            f"`duration` must be {spec.durations.describe()} for {model.label}; you gave {value} s. "
            "Pick a length it takes, or another `model`.",
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


def _default_ratio(defaults: ChannelDefaults, spec: ModeSpec, notes: list[str]) -> AspectRatio:
    wanted = defaults.aspect_ratio or AspectRatio.WIDE
    if wanted in spec.aspect_ratios:
        return wanted
    fallback = spec.aspect_ratios[0]
    if defaults.aspect_ratio is not None:
        notes.append(
            f"The channel's default shape ({wanted.value}) doesn't fit this model; it renders {fallback.value}."
        )
    return fallback


def _check_negative_prompt(
    value: str | None,
    defaults: ChannelDefaults,
    model: ModelSpec,
    spec: ModeSpec,
    choice: ModelChoice,
    notes: list[str],
) -> str | None:
    # Whitespace only counts as not given, so the channel default still applies.
    text = value.strip() if value is not None else ""
    limit = spec.negative_prompt_max
    if not text:
        default = defaults.negative_prompt or None
        if default is not None and (limit is None or len(default) > limit):
            notes.append(f"The channel's default negative prompt is not used: {model.label} can't take it.")
            return None
        return default
    if limit is None:
        raise _unsupported("negative_prompt", model, choice, lambda m: m.offers("negative_prompt"))
    limit = min(limit, MAX_NEGATIVE_PROMPT_CHARS)
    if len(text) > limit:
        raise RequestValidationError(
            "negative_prompt",
            f"`negative_prompt` is {len(text)} characters long; {model.label} takes at most {limit}. "
            f"Shorten it by {len(text) - limit} characters.",
        )
    return text


def _check_cfg_scale(value: float | None, model: ModelSpec, spec: ModeSpec, choice: ModelChoice) -> float:
    if value is None:
        return DEFAULT_CFG_SCALE
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestValidationError("cfg_scale", "`cfg_scale` must be a number between 0 and 1.")
    if not 0 <= value <= 1:
        raise RequestValidationError("cfg_scale", f"`cfg_scale` must be between 0 and 1; you gave {value:g}.")
    if not spec.cfg_scale:
        raise _unsupported("cfg_scale", model, choice, lambda m: m.offers("cfg_scale"))
    return float(value)


def _check_sound(
    value: bool | None,
    defaults: ChannelDefaults,
    model: ModelSpec,
    spec: ModeSpec,
    choice: ModelChoice,
    notes: list[str],
) -> bool:
    if spec.sound is SoundSupport.NONE:
        if value:
            raise _unsupported("sound", model, choice, lambda m: m.offers("sound"))
        if value is None and defaults.sound:
            notes.append(f"The channel's default sound is not used: {model.label} makes silent clips.")
        return False
    if spec.sound is SoundSupport.ALWAYS:
        if value is None and defaults.sound is False:
            notes.append(f"The channel's default (no sound) is not used: {model.label} always makes sound here.")
        if value is False:
            others = [m.key for m in choice.usable() if m.key != model.key and _can_be_silent(m)]
            raise RequestValidationError(
                "sound",
                f"{model.label} always makes sound in this mode, so `sound: False` can't be honoured. "
                + (f"Silent clips: {_code_list(others)}, or " if others else "")
                + "leave `sound` out.",
            )
        return True
    if value is not None:
        return bool(value)
    return defaults.sound if defaults.sound is not None else spec.sound_default


def _can_be_silent(model: ModelSpec) -> bool:
    return any(spec.sound is not SoundSupport.ALWAYS for spec in model.modes.values())


def _check_seed(value: int | None, model: ModelSpec, spec: ModeSpec, choice: ModelChoice) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        raise RequestValidationError("seed", f"`seed` must be a whole number from 0 to {MAX_SEED}.")
    if not spec.seed:
        raise _unsupported("seed", model, choice, lambda m: m.offers("seed"))
    return value


def _check_watermark(value: bool | None, model: ModelSpec, spec: ModeSpec, choice: ModelChoice) -> bool:
    # Asking for no watermark from a model that has no watermark switch is already honoured.
    if value and not spec.watermark:
        raise _unsupported("watermark", model, choice, lambda m: m.offers("watermark"))
    return bool(value)


def _check_model_images(raw: RawOptions, model: ModelSpec, spec: ModeSpec, choice: ModelChoice) -> None:
    if raw.last_frame is not None and not spec.last_frame:
        others = [m.key for m in choice.usable() if _mode_or_empty(m, GenerationMode.IMAGE, "last_frame")]
        raise RequestValidationError(
            "last_frame",
            f"{model.label} takes no `last_frame`. "
            + (f"Models that take an end frame: {_code_list(others)}; pick one with `model`, or " if others else "")
            + "remove `last_frame`.",
        )
    given = _given_references(raw)
    if given and len(given) > spec.max_references:
        others = [
            m.key
            for m in choice.usable()
            if (_mode_or_empty(m, GenerationMode.REFERENCE, "max_references") or 0) >= len(given)
        ]
        raise RequestValidationError(
            f"reference_{given[spec.max_references]}",
            f"{model.label} takes at most {spec.max_references} reference image(s); you attached {len(given)}. "
            + (f"Models that take {len(given)}: {_code_list(others)}." if others else "Remove some."),
        )


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


def _check_multi_shot(raw: RawOptions, model: ModelSpec, spec: ModeSpec, choice: ModelChoice) -> None:
    if not raw.multi_shot:
        return
    if not spec.multi_shot:
        raise _unsupported("multi_shot", model, choice, lambda m: m.offers("multi_shot"))
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


def revalidate_prompt(request: VideoRequest, prompt: str, model: ModelSpec | None = None) -> VideoRequest:
    """The same request with a new prompt (Remix), checked against the images the request already carries and,
    when known, its model's own prompt limit (a model gone from the table is refused later, when submitted)."""
    text = _check_prompt(prompt)
    spec = model.mode(request.generation_mode) if model is not None else None
    if model is not None and spec is not None:
        _check_prompt_length(text, model, spec)
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
