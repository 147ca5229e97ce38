"""The model table: every video model behind `/video generate`, read from data.

`models.toml` beside this file ships the entries; an operator's file (MODELS_FILE) of the same shape is merged
over it key by key, so fixing one field name is a one-line edit and a new model is a new entry. Parsing checks
every entry completely and fails with one line naming the entry and the field, so a broken table stops start-up
instead of a render.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.domain.request import AspectRatio, GenerationMode, QualityMode

SHIPPED_MODELS = Path(__file__).with_name("models.toml")

# The options a field can carry, named as the member knows them (`mode` is the quality mode).
OPTIONS = (
    "prompt",
    "duration",
    "mode",
    "aspect_ratio",
    "negative_prompt",
    "cfg_scale",
    "seed",
    "sound",
    "watermark",
    "first_frame",
    "last_frame",
    "references",
)
# Code for what data cannot say, by name, with the capabilities each one provides (bot.videoapi.payload has them).
HOOKS: Mapping[str, frozenset[str]] = {"kling": frozenset({"multi_shot"}), "wan_size": frozenset()}
# /video generate offers reference_1..reference_4.
MAX_REFERENCE_OPTIONS = 4
# The `model` options list the enabled models as choices; Discord allows 25, and a channel's default model keeps
# one for "none".
MAX_ENABLED_MODELS = 24


class SoundSupport(StrEnum):
    NONE = "none"  # the model makes silent clips
    OPTIONAL = "optional"  # the member may turn it on or off
    ALWAYS = "always"  # the model always makes sound


class ImageTransport(StrEnum):
    BASE64 = "base64"
    DATA_URI = "data_uri"
    URL = "url"


class VideoLocation(StrEnum):
    STATUS = "status"  # the status answer carries the video URL
    CONTENT = "content"  # fetched from the gateway's /v1/videos/{id}/content


class ModelTableError(Exception):
    """The table is broken; the message is the single line shown to the operator."""


@dataclass(frozen=True)
class Target:
    """One place in the create body an option's value goes."""

    path: tuple[str, ...]
    append: bool = False  # the last key holds a list and the value is appended to it
    item: Any = None  # a template in which "{image}" becomes the image (reference and frame images)
    as_text: bool = False  # send the value as a string


@dataclass(frozen=True)
class Durations:
    minimum: int
    maximum: int
    allowed: tuple[int, ...] | None = None  # a set of lengths rather than a range

    def allows(self, seconds: int) -> bool:
        if self.allowed is not None:
            return seconds in self.allowed
        return self.minimum <= seconds <= self.maximum

    def describe(self) -> str:
        if self.allowed is None:
            return f"{self.minimum}–{self.maximum} s"
        *head, last = [str(value) for value in self.allowed]
        return f"{', '.join(head)} or {last} s" if head else f"{last} s"


@dataclass(frozen=True)
class ModelCost:
    """Credits per second of video for each quality mode, plus a surcharge per second when sound is on."""

    std: int = 1
    pro: int = 2
    sound: int = 0

    def per_second(self, mode: QualityMode, sound: bool) -> int:
        base = self.pro if mode is QualityMode.PRO else self.std
        return base + (self.sound if sound else 0)


@dataclass(frozen=True)
class ModeSpec:
    """What a model accepts, and where each option goes, in one generation mode."""

    api_id: str
    durations: Durations
    default_duration: int
    resolutions: Mapping[QualityMode, str]
    aspect_ratios: tuple[AspectRatio, ...]
    last_frame: bool
    max_references: int
    reference_syntax: str
    prompt_max: int
    negative_prompt_max: int | None
    cfg_scale: bool
    seed: bool
    watermark: bool
    multi_shot: bool
    sound: SoundSupport
    sound_default: bool
    hook: str | None
    fields: Mapping[str, tuple[Target, ...]]
    values: Mapping[str, Mapping[str, Any]]
    image_min_side: int = 300  # shortest side, in pixels, the model takes for an input image

    def image_copies(self) -> int:
        """How many times the body carries one image (a model may want it in two places): the image budget
        of a create request is shared among them."""
        options = ("first_frame", "last_frame", "references")
        return max((len(self.fields.get(option, ())) for option in options), default=1) or 1

    def wire_value(self, option: str, value: Any) -> Any:
        """What the API wants for the member's `value` of `option` (booleans are looked up as true/false)."""
        table = self.values.get(option)
        if table is None:
            return value
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return table.get(key, value)


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the `model` choice value
    name: str
    verified: bool
    guessed: tuple[str, ...]
    enabled: bool
    image_transport: ImageTransport
    video: VideoLocation
    video_path: str | None
    cost: ModelCost
    modes: Mapping[GenerationMode, ModeSpec]

    @property
    def label(self) -> str:
        return f"{self.name} (`{self.key}`)"

    def mode(self, generation_mode: GenerationMode) -> ModeSpec | None:
        return self.modes.get(generation_mode)

    def offers(self, capability: str) -> bool:
        """Whether any generation mode of this model has the capability (see `has_capability`)."""
        return any(has_capability(spec, capability) for spec in self.modes.values())


def has_capability(spec: ModeSpec, capability: str) -> bool:
    """Whether the member may set the option named `capability` (seed, sound, watermark, cfg_scale,
    negative_prompt, multi_shot) in this mode."""
    checks: dict[str, bool] = {
        "seed": spec.seed,
        "sound": spec.sound is not SoundSupport.NONE,
        "watermark": spec.watermark,
        "cfg_scale": spec.cfg_scale,
        "negative_prompt": spec.negative_prompt_max is not None,
        "multi_shot": spec.multi_shot,
    }
    if capability not in checks:
        raise ValueError(f"not a capability: {capability!r}")
    return checks[capability]


class ModelTable:
    """Every known model by key, in the table's order."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs = {spec.key: spec for spec in specs}

    def get(self, key: str) -> ModelSpec | None:
        return self._specs.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def __iter__(self) -> Any:
        return iter(self._specs.values())

    def enabled(self) -> list[ModelSpec]:
        """The models the bot offers at all (an operator's file may turn some off)."""
        return [spec for spec in self._specs.values() if spec.enabled]


def load_model_table(operator_file: Path | None = None, *, shipped: Path = SHIPPED_MODELS) -> ModelTable:
    """The shipped table with the operator's file merged over it; raises `ModelTableError` on any fault."""
    data = _read_toml(shipped)
    source = shipped.name
    if operator_file is not None:
        data = _merge(data, _read_toml(operator_file))
        source = f"{shipped.name} + {operator_file.name}"
    return parse_model_table(data, source=source)


def parse_model_table(data: Mapping[str, Any], *, source: str = "models.toml") -> ModelTable:
    models = data.get("models")
    if not isinstance(models, Mapping) or not models:
        raise ModelTableError(f"{source}: no [models.<key>] entries")
    unknown = set(data) - {"models"}
    if unknown:
        raise ModelTableError(
            f"{source}: unknown top-level key {sorted(unknown)[0]!r}; entries go under [models.<key>]"
        )
    specs = [_parse_entry(source, str(key), entry) for key, entry in models.items()]
    enabled = [spec for spec in specs if spec.enabled]
    if not enabled:
        raise ModelTableError(f"{source}: every model is disabled; enable at least one")
    if len(enabled) > MAX_ENABLED_MODELS:
        raise ModelTableError(
            f"{source}: {len(enabled)} models are enabled; Discord offers at most {MAX_ENABLED_MODELS} choices, "
            "so disable some (enabled = false)"
        )
    return ModelTable(specs)


# ---- parsing -----------------------------------------------------------------------------------------------

_MODEL_KEYS = frozenset(
    {"name", "verified", "guessed", "enabled", "ids", "image_transport", "video", "video_path", "cost", "modes"}
)
_MODE_KEYS = frozenset(
    {
        "durations",
        "default_duration",
        "resolutions",
        "aspect_ratios",
        "last_frame",
        "references",
        "reference_syntax",
        "prompt_max",
        "negative_prompt_max",
        "cfg_scale",
        "seed",
        "watermark",
        "multi_shot",
        "sound",
        "sound_default",
        "hook",
        "fields",
        "values",
        "image_min_side",
    }
)


class _Entry:
    """Reads one entry's values, turning every fault into one line naming the entry and the field."""

    def __init__(self, source: str, key: str, raw: Mapping[str, Any], where: str = "") -> None:
        self.source, self.key, self.raw, self.where = source, key, raw, where

    def fail(self, field: str, problem: str) -> ModelTableError:
        return ModelTableError(f'{self.source}: model "{self.key}", field "{self.where}{field}": {problem}')

    def get(self, field: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        if field not in self.raw:
            if required:
                raise self.fail(field, "missing")
            return default
        value = self.raw[field]
        # TOML booleans are not numbers here: `references = true` is a mistake, not 1.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(field, f"expected {_kind_name(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(field, f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, field: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.get(field, str, default, required=required)
        if value is not None and not value.strip():
            raise self.fail(field, "must not be empty")
        return value

    def count(self, field: str, default: int | None = None, *, minimum: int = 0, required: bool = False) -> Any:
        value = self.get(field, int, default, required=required)
        if value is not None and value < minimum:
            raise self.fail(field, f"must be at least {minimum}, got {value}")
        return value

    def choice(self, field: str, enum: type[StrEnum], default: str | None = None) -> Any:
        value = self.text(field, default, required=default is None)
        try:
            return enum(value)
        except ValueError:
            raise self.fail(field, f"{value!r} is not one of {', '.join(item.value for item in enum)}") from None


def _parse_entry(source: str, key: str, raw: Any) -> ModelSpec:
    if not isinstance(raw, Mapping):
        raise ModelTableError(f'{source}: model "{key}" must be a table')
    entry = _Entry(source, key, raw)
    for name in raw:
        if name not in _MODEL_KEYS | _MODE_KEYS:
            raise entry.fail(name, "unknown key (a typo?)")
    ids = entry.get("ids", Mapping, required=True)
    modes_raw = entry.get("modes", Mapping, {})
    for name in list(ids) + list(modes_raw):
        if name not in {mode.value for mode in GenerationMode}:
            raise entry.fail(
                f"ids.{name}" if name in ids else f"modes.{name}", "not a generation mode (text, image, reference)"
            )
    if not ids:
        raise entry.fail("ids", "give the API model id of at least one generation mode")
    cost = entry.get("cost", Mapping, required=True)
    cost_entry = _Entry(source, key, cost, "cost.")
    for name in cost:
        if name not in ("std", "pro", "sound"):
            raise cost_entry.fail(name, "unknown key; use std, pro and sound")
    shared = {name: value for name, value in raw.items() if name in _MODE_KEYS}
    modes: dict[GenerationMode, ModeSpec] = {}
    for mode_name, api_id in ids.items():
        if not isinstance(api_id, str) or not api_id.strip():
            raise entry.fail(f"ids.{mode_name}", "must be a non-empty model id")
        override = modes_raw.get(mode_name, {})
        if not isinstance(override, Mapping):
            raise entry.fail(f"modes.{mode_name}", "must be a table")
        for name in override:
            if name not in _MODE_KEYS:
                raise entry.fail(f"modes.{mode_name}.{name}", "unknown key, or not one a mode can change")
        mode = GenerationMode(mode_name)
        merged = _merge(shared, override)
        modes[mode] = _parse_mode(_Entry(source, key, merged), mode, api_id.strip())
    video_path = entry.text("video_path")
    return ModelSpec(
        key=key,
        name=entry.text("name", required=True),
        verified=entry.get("verified", bool, False),
        guessed=tuple(_strings(entry, "guessed", OPTIONS)),
        enabled=entry.get("enabled", bool, True),
        image_transport=entry.choice("image_transport", ImageTransport),
        video=entry.choice("video", VideoLocation),
        video_path=video_path,
        cost=ModelCost(
            std=cost_entry.count("std", required=True),
            pro=cost_entry.count("pro", required=True),
            sound=cost_entry.count("sound", 0),
        ),
        modes=modes,
    )


def _parse_mode(entry: _Entry, mode: GenerationMode, api_id: str) -> ModeSpec:
    durations = _durations(entry)
    default_duration = entry.count("default_duration", required=True, minimum=1)
    if not durations.allows(default_duration):
        raise entry.fail(
            "default_duration", f"{default_duration} s is not among the durations ({durations.describe()})"
        )
    resolutions_raw = entry.get("resolutions", Mapping, required=True)
    resolutions: dict[QualityMode, str] = {}
    for name, label in resolutions_raw.items():
        try:
            quality = QualityMode(name)
        except ValueError:
            raise entry.fail(f"resolutions.{name}", "quality modes are std and pro") from None
        if not isinstance(label, str) or not label.strip():
            raise entry.fail(f"resolutions.{name}", "give the resolution it means, such as 720p")
        resolutions[quality] = label
    if not resolutions:
        raise entry.fail("resolutions", "give at least one quality mode")
    ratios = tuple(AspectRatio(value) for value in _strings(entry, "aspect_ratios", [r.value for r in AspectRatio]))
    references = entry.count("references", 0)
    if references > MAX_REFERENCE_OPTIONS:
        raise entry.fail("references", f"at most {MAX_REFERENCE_OPTIONS}: /video generate has four reference options")
    if mode is GenerationMode.REFERENCE and references == 0:
        raise entry.fail("references", "reference mode needs references = 1 or more")
    syntax = entry.text("reference_syntax", "<<<image_{n}>>>")
    if "{n}" not in syntax:
        raise entry.fail("reference_syntax", 'must contain "{n}", the image number')
    try:
        syntax.format(n=1)
    except (KeyError, IndexError, ValueError):
        # Filled with str.format when the payload is built: fail now, not on a member's render.
        raise entry.fail("reference_syntax", 'only "{n}" may be in braces ("{{" for a literal brace)') from None
    hook = entry.text("hook")
    if hook is not None and hook not in HOOKS:
        raise entry.fail("hook", f"unknown hook {hook!r}; known: {', '.join(HOOKS)}")
    spec = ModeSpec(
        api_id=api_id,
        durations=durations,
        default_duration=default_duration,
        resolutions=resolutions,
        aspect_ratios=ratios,
        last_frame=entry.get("last_frame", bool, False),
        max_references=references,
        reference_syntax=syntax,
        prompt_max=entry.count("prompt_max", required=True, minimum=1),
        negative_prompt_max=entry.count("negative_prompt_max", minimum=1),
        cfg_scale=entry.get("cfg_scale", bool, False),
        seed=entry.get("seed", bool, False),
        watermark=entry.get("watermark", bool, False),
        multi_shot=entry.get("multi_shot", bool, False),
        sound=entry.choice("sound", SoundSupport, SoundSupport.NONE.value),
        sound_default=entry.get("sound_default", bool, False),
        hook=hook,
        fields=_fields(entry),
        values=_values(entry),
        image_min_side=entry.count("image_min_side", 300, minimum=300),
    )
    _check_wiring(entry, mode, spec)
    return spec


def _durations(entry: _Entry) -> Durations:
    raw = entry.get("durations", (Mapping, list), required=True)
    if isinstance(raw, list):
        if not raw or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in raw):
            raise entry.fail("durations", "a list of whole seconds, each at least 1")
        allowed = tuple(sorted(set(raw)))
        return Durations(allowed[0], allowed[-1], allowed)
    span = _Entry(entry.source, entry.key, raw, entry.where + "durations.")
    low, high = span.count("min", required=True, minimum=1), span.count("max", required=True, minimum=1)
    if low > high:
        raise entry.fail("durations", f"min ({low}) is above max ({high})")
    return Durations(low, high)


def _strings(entry: _Entry, field: str, allowed: Iterable[str]) -> list[str]:
    values = entry.get(field, list, [])
    known = list(allowed)
    for value in values:
        if value not in known:
            raise entry.fail(field, f"{value!r} is not one of {', '.join(known)}")
    return list(values)


def _fields(entry: _Entry) -> dict[str, tuple[Target, ...]]:
    raw = entry.get("fields", Mapping, required=True)
    fields: dict[str, tuple[Target, ...]] = {}
    for option, spec in raw.items():
        if option not in OPTIONS:
            raise entry.fail(f"fields.{option}", f"not an option; options are {', '.join(OPTIONS)}")
        targets = spec if isinstance(spec, list) else [spec]
        if not targets:
            raise entry.fail(f"fields.{option}", "give at least one path")
        fields[option] = tuple(_target(entry, f"fields.{option}", target) for target in targets)
    return fields


def _target(entry: _Entry, field: str, raw: Any) -> Target:
    item: Any = None
    as_text = False
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"path", "item", "type"}
        if unknown:
            raise entry.fail(field, f"unknown key {sorted(unknown)[0]!r} in a target; use path, item, type")
        kind = raw.get("type")
        if kind not in (None, "string"):
            raise entry.fail(field, f'type {kind!r} is not known; the only type is "string"')
        as_text = kind == "string"
        item = raw.get("item")
        if item is not None and "{image}" not in repr(item):
            raise entry.fail(field, 'an item template must hold "{image}" where the image goes')
        raw = raw.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise entry.fail(field, "a path such as metadata.seed, or a table with one")
    path = raw.strip()
    append = path.endswith("[]")
    parts = tuple(path.removesuffix("[]").split("."))
    if not all(part.strip() for part in parts):
        raise entry.fail(field, f"{path!r} has an empty part")
    return Target(parts, append, item, as_text)


def _values(entry: _Entry) -> dict[str, dict[str, Any]]:
    raw = entry.get("values", Mapping, {})
    values: dict[str, dict[str, Any]] = {}
    for option, table in raw.items():
        if option not in OPTIONS:
            raise entry.fail(f"values.{option}", "not an option")
        if not isinstance(table, Mapping):
            raise entry.fail(f"values.{option}", "a table of the member's value -> the API's value")
        values[option] = dict(table)
    return values


def _check_wiring(entry: _Entry, mode: GenerationMode, spec: ModeSpec) -> None:
    """Every capability the entry claims has a field to travel in, and no field is left without a capability."""
    needed = {
        "prompt": True,
        "duration": True,
        "mode": True,
        "aspect_ratio": mode is not GenerationMode.IMAGE and bool(spec.aspect_ratios),
        "negative_prompt": spec.negative_prompt_max is not None,
        "cfg_scale": spec.cfg_scale,
        "seed": spec.seed,
        "sound": spec.sound is SoundSupport.OPTIONAL,
        "watermark": spec.watermark,
        "first_frame": mode is GenerationMode.IMAGE,
        "last_frame": mode is GenerationMode.IMAGE and spec.last_frame,
        "references": mode is GenerationMode.REFERENCE,
    }
    allowed = dict(needed)
    allowed["sound"] = spec.sound is not SoundSupport.NONE
    # Fields of the other generation modes are shared by the entry: only their absence matters here.
    for option in ("aspect_ratio", "first_frame", "last_frame", "references"):
        allowed[option] = True
    for option, required in needed.items():
        if required and option not in spec.fields:
            raise entry.fail(f"fields.{option}", f"missing: {mode.value} mode needs a path for {option}")
    for option in spec.fields:
        if not allowed[option]:
            raise entry.fail(f"fields.{option}", f"set, but the model has no {option} ({option} is off)")
    if spec.multi_shot and (spec.hook is None or "multi_shot" not in HOOKS[spec.hook]):
        raise entry.fail("multi_shot", "needs a hook that writes the storyboard (kling)")
    if spec.aspect_ratios == () and mode is not GenerationMode.IMAGE:
        raise entry.fail("aspect_ratios", f"{mode.value} mode needs at least one")
    mode_values = spec.values.get("mode")
    if mode_values is not None:
        for quality in spec.resolutions:
            if quality.value not in mode_values:
                raise entry.fail("values.mode", f"no value for {quality.value}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ModelTableError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelTableError(f"{path.name}: not valid TOML ({error})") from None
    except OSError as error:
        raise ModelTableError(f"{path}: cannot be read ({error.strerror})") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, tables merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", bool: "true or false", list: "a list", Mapping: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
