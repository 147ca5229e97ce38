"""What the fake gateway accepts for each video model id: a request schema per model.

Written from modelstream-models.md and modelstream-api.md (the ModelStream form of each model, New API's
adaptors where a page was missing), NOT from the bot's model table: the fake must be able to disagree with the
bot. Each schema lists the fields the gateway reads, where in the body it reads them (a form name at the top
level, Kling's and Ark's keys under `metadata`, DashScope's under `metadata.input` / `metadata.parameters`), their
types and ranges, which are required, and how the model takes images.

How a bad request is answered, as the real gateway does:
- a top-level value of the wrong type, a missing required field: 400 task-style `invalid_request`;
- a `metadata` value of the wrong type (the adaptors unmarshal metadata into typed Go structs): 500
  `build_request_failed`;
- a value out of range, an image the model can't use: the upstream refuses it, which the gateway passes on as
  400 `fail_to_fetch_task` with the provider's JSON as the message.
Keys the gateway does not read are dropped silently, as New API does; they are reported in `Checked.ignored` so a
test can see that nothing a member chose was lost.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# How a model takes images.
BASE64_OR_URL = "base64_or_url"  # Kling: bare base64 or a URL; a data: URI is refused
URL_OR_DATA_URI = "url_or_data_uri"  # Seedance (Ark): a URL or a data: URI
DATA_URI_OR_BASE64 = "data_uri_or_base64"  # Veo: inline only, no http(s) URL
URL_ONLY = "url"  # Wan, HappyHorse, Vidu: a public http(s) URL the model fetches itself

MAX_SEED = 2_147_483_647
DASHSCOPE_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
DASHSCOPE_RESOLUTIONS = ("720P", "1080P")
# DashScope's output sizes (width*height) for wan2.6-r2v, per resolution tier.
WAN_R2V_SIZES = (
    "1280*720",
    "720*1280",
    "960*960",
    "1088*832",
    "832*1088",
    "1920*1080",
    "1080*1920",
    "1440*1440",
    "1632*1248",
    "1248*1632",
)


class Rejection(Exception):
    """The gateway's answer to a request it won't take: HTTP status, task-style code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Field:
    """One thing the gateway reads. `places` are dotted paths (numbers index lists), the first present wins.

    kind: text | int | number | bool | enum | numstr (an integer written as a string) | duration (top-level: an
    integer or a numeric string; a float is dropped, as New API's TaskSubmitReq does) | image | images | any
    (read, not checked) | custom (`check` gets the value).
    """

    name: str
    places: tuple[str, ...]
    kind: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    max_len: int | None = None
    min_items: int = 0
    max_items: int | None = None
    check: Callable[[Any, Context], None] | None = None


@dataclass
class Context:
    """What a check learns while reading one body."""

    schema: Schema
    values: dict[str, Any] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (where, image) to check for transport

    def upstream(self, message: str) -> Rejection:
        return upstream_rejection(self.schema.family, message)


@dataclass(frozen=True)
class Schema:
    model: str
    family: str  # kling | seedance | veo | wan | happyhorse | vidu
    transport: str
    fields: tuple[Field, ...]
    rules: tuple[Callable[[Context], None], ...] = ()
    read_also: tuple[str, ...] = ()  # keys read but never checked (e.g. callback URLs)


@dataclass(frozen=True)
class Checked:
    values: dict[str, Any]  # field name -> the value the gateway used
    ignored: list[str]  # dotted paths of body values the gateway dropped
    images: list[tuple[str, str]]  # (where, image) still to check for transport (async: URLs may be fetched)


def upstream_rejection(family: str, message: str) -> Rejection:
    """The provider refused a parameter: 400 fail_to_fetch_task with the provider's own JSON as the message."""
    bodies: dict[str, Any] = {
        "kling": {"code": 1201, "message": message, "request_id": "kling-req-fake"},
        "seedance": {"error": {"code": "InvalidParameter", "message": message, "type": "BadRequest"}},
        "veo": {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}},
        "wan": {"code": "InvalidParameter", "message": message, "request_id": "dashscope-req-fake"},
        "happyhorse": {"code": "InvalidParameter", "message": message, "request_id": "dashscope-req-fake"},
        "vidu": {"code": 400, "reason": "InvalidParameter", "message": message},
    }
    body = bodies.get(family, {"message": message})
    return Rejection(400, "fail_to_fetch_task", json.dumps(body, ensure_ascii=False))


# ---- reading a body -----------------------------------------------------------------------------------------


def check_body(schema: Schema, body: Mapping[str, Any]) -> Checked:
    """Read `body` as the gateway reads a request for `schema.model`; raises `Rejection` when it refuses it."""
    ctx = Context(schema)
    ctx.consumed.add("model")
    for name in schema.read_also:
        if _lookup(body, name)[0]:
            ctx.consumed.add(name)
    for spec in schema.fields:
        _read_field(spec, body, ctx)
    for rule in schema.rules:
        rule(ctx)
    ctx.ignored.extend(path for path in _leaves(body) if not _covered(path, ctx.consumed))
    return Checked(ctx.values, sorted(set(ctx.ignored)), ctx.images)


def _read_field(spec: Field, body: Mapping[str, Any], ctx: Context) -> None:
    found = [(place, value) for place in spec.places for present, value in [_lookup(body, place)] if present]
    if spec.kind == "duration":
        dropped = [(place, value) for place, value in found if isinstance(value, float)]
        # New API types duration as an int: a float is silently dropped and the default applies.
        ctx.ignored.extend(place for place, _ in dropped)
        ctx.consumed.update(place for place, _ in dropped)
        found = [(place, value) for place, value in found if not isinstance(value, float)]
    if not found:
        if spec.required:
            raise Rejection(400, "invalid_request", f"{spec.name} is required")
        return
    for place, value in found:
        ctx.consumed.add(place)
        _check_value(spec, place, value, ctx)
    ctx.values[spec.name] = found[0][1]


def _check_value(spec: Field, place: str, value: Any, ctx: Context) -> None:
    kind = spec.kind
    if kind == "any":
        return
    if kind == "custom":
        assert spec.check is not None
        spec.check(value, ctx)
        return
    if kind == "text":
        _want(isinstance(value, str), place, value, "string")
        if spec.max_len is not None and len(value) > spec.max_len:
            raise ctx.upstream(f"{spec.name} is {len(value)} characters long; at most {spec.max_len} are allowed")
        return
    if kind == "bool":
        _want(isinstance(value, bool), place, value, "bool")
        return
    if kind == "enum":
        _want(isinstance(value, str), place, value, "string")
        if value not in spec.choices:
            raise ctx.upstream(f"{spec.name} {value!r} is not supported; use one of {', '.join(spec.choices)}")
        return
    if kind in ("int", "number", "numstr", "duration"):
        number = _number(spec, place, value)
        _range(spec, number, ctx)
        return
    if kind == "image":
        _want(isinstance(value, str), place, value, "string")
        ctx.images.append((place, value))
        return
    if kind == "images":
        _want(isinstance(value, list), place, value, "array")
        if not spec.min_items <= len(value) <= (spec.max_items if spec.max_items is not None else len(value)):
            raise ctx.upstream(f"{spec.name} takes {_count(spec)} images; got {len(value)}")
        for index, item in enumerate(value):
            _want(isinstance(item, str), f"{place}.{index}", item, "string")
            ctx.images.append((f"{place}.{index}", item))
        return
    raise AssertionError(f"unknown field kind {kind!r}")


def _number(spec: Field, place: str, value: Any) -> float:
    kind = spec.kind
    if isinstance(value, bool):
        raise _type_error(place, value, "number")
    if kind == "numstr":
        # Kling types its durations as strings: a number here fails the gateway's unmarshal.
        _want(isinstance(value, str) and value.strip().isdigit(), place, value, "string")
        return int(value)
    if kind == "duration" and isinstance(value, str):
        if not value.strip().isdigit():
            raise Rejection(400, "invalid_request", f"{spec.name} must be a whole number of seconds")
        return int(value)
    if kind in ("int", "duration"):
        _want(isinstance(value, int), place, value, "integer")
        return int(value)
    _want(isinstance(value, int | float), place, value, "number")
    return float(value)


def _range(spec: Field, number: float, ctx: Context) -> None:
    if spec.choices and number not in spec.choices:
        allowed = ", ".join(str(choice) for choice in spec.choices)
        raise ctx.upstream(f"{spec.name} {number:g} is not supported; use one of {allowed}")
    if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
        raise ctx.upstream(f"{spec.name} {number:g} is out of range [{spec.low:g}, {spec.high:g}]")


def _count(spec: Field) -> str:
    return f"{spec.min_items}-{spec.max_items}" if spec.max_items is not None else f"at least {spec.min_items}"


def _want(ok: bool, place: str, value: Any, wanted: str) -> None:
    if not ok:
        raise _type_error(place, value, wanted)


def _type_error(place: str, value: Any, wanted: str) -> Rejection:
    got = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null"
    )
    if place.startswith("metadata."):
        # The adaptors unmarshal metadata into typed structs: the request is built, and fails, inside the gateway.
        go_type = {"string": "string", "integer": "int", "number": "float64", "bool": "bool"}.get(wanted, wanted)
        return Rejection(
            500,
            "build_request_failed",
            f"json: cannot unmarshal {got} into Go struct field .{place.removeprefix('metadata.')} of type {go_type}",
        )
    return Rejection(400, "invalid_request", f"invalid request: {place} must be a {wanted}, not a {got}")


def _lookup(body: Any, place: str) -> tuple[bool, Any]:
    """(present, value) at a dotted path; a step through something that is not an object or list is a type error
    in metadata (the struct field has another type) and simply absent elsewhere."""
    value = body
    walked: list[str] = []
    for key in place.split("."):
        if isinstance(value, Mapping):
            if key not in value:
                return False, None
            value = value[key]
        elif isinstance(value, list) and key.isdigit():
            if int(key) >= len(value):
                return False, None
            value = value[int(key)]
        else:
            where = ".".join(walked)
            if where.startswith("metadata.") and value is not None:
                raise _type_error(where, value, "object")
            return False, None
        walked.append(key)
    return True, value


def _leaves(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}.{index}")
    elif prefix:
        yield prefix


def _covered(path: str, consumed: set[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in consumed for n in range(1, len(parts) + 1))


# ---- images ---------------------------------------------------------------------------------------------------

IMAGE_MAGIC = {
    b"\x89PNG": "png",
    b"\xff\xd8\xff": "jpeg",
    b"BM": "bmp",
}


def image_format(data: bytes) -> str | None:
    for magic, name in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def is_http_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def inline_image(schema: Schema, where: str, value: str) -> None:
    """Check an image sent in the body itself (not a URL) against how the model takes images."""
    transport = schema.transport
    if value.startswith("data:"):
        if transport == BASE64_OR_URL:
            # Kling's adaptor passes the prefix on and Kling refuses it.
            raise upstream_rejection(schema.family, f"Invalid image: {where} is not valid base64 (data: URI given)")
        head, _, payload = value.partition(",")
        if not head.startswith("data:image/") or not head.endswith(";base64"):
            raise upstream_rejection(schema.family, f"{where}: unsupported data URI {head[:40]!r}")
        _decode(schema, where, payload)
        return
    if transport in (URL_ONLY, URL_OR_DATA_URI):
        what = "a public http(s) URL" if transport == URL_ONLY else "a URL or a data: URI"
        raise upstream_rejection(schema.family, f"{where} must be {what}; inline base64 is not accepted")
    _decode(schema, where, value)


def _decode(schema: Schema, where: str, payload: str) -> None:
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise upstream_rejection(schema.family, f"Invalid image: {where} is not valid base64") from None
    if image_format(data) is None:
        raise upstream_rejection(schema.family, f"Invalid image: {where} is not a JPG/PNG image")


# ---- field helpers ---------------------------------------------------------------------------------------------


def top(name: str) -> tuple[str, ...]:
    """A form field the gateway reads at the top level or, New-API style, from metadata."""
    return (name, f"metadata.{name}")


def dash(name: str, part: str = "parameters") -> tuple[str, ...]:
    """A DashScope field: the form name at the top level, or metadata over the DashScope body."""
    return (name, f"metadata.{name}", f"metadata.{part}.{name}")


def _prompt(max_len: int | None, *places: str) -> Field:
    return Field("prompt", places or ("prompt",), "text", required=True, max_len=max_len)


def _seed(places: tuple[str, ...], high: int = MAX_SEED, low: int = 0) -> Field:
    return Field("seed", places, "int", low=low, high=high)


# ---- Kling ----------------------------------------------------------------------------------------------------


def _kling_shots(value: Any, ctx: Context) -> None:
    _want(isinstance(value, list), "metadata.multi_prompt", value, "array")
    if not 1 <= len(value) <= 6:
        raise ctx.upstream(f"multi_prompt takes 1-6 shots; got {len(value)}")
    for index, shot in enumerate(value):
        place = f"metadata.multi_prompt.{index}"
        _want(isinstance(shot, dict), place, shot, "object")
        _want(isinstance(shot.get("index"), int), f"{place}.index", shot.get("index"), "integer")
        _want(isinstance(shot.get("prompt"), str), f"{place}.prompt", shot.get("prompt"), "string")
        duration = shot.get("duration")
        _want(isinstance(duration, str) and duration.isdigit(), f"{place}.duration", duration, "string")
        if len(shot["prompt"]) > 512:
            raise ctx.upstream(f"multi_prompt[{index}].prompt is over 512 characters")
        if int(duration) < 1:
            raise ctx.upstream(f"multi_prompt[{index}].duration must be at least 1 second")


def _kling_image_list(value: Any, ctx: Context) -> None:
    _want(isinstance(value, list), "metadata.image_list", value, "array")
    if not 1 <= len(value) <= 7:
        raise ctx.upstream(f"image_list takes 1-7 images; got {len(value)}")
    for index, item in enumerate(value):
        place = f"metadata.image_list.{index}"
        _want(isinstance(item, dict), place, item, "object")
        _want(isinstance(item.get("image_url"), str), f"{place}.image_url", item.get("image_url"), "string")
        if item.get("type") not in (None, "first_frame", "end_frame"):
            raise ctx.upstream(f"image_list[{index}].type {item.get('type')!r} is not supported")
        ctx.images.append((f"{place}.image_url", item["image_url"]))


def _kling_duration(ctx: Context) -> int:
    if "metadata.duration" in ctx.values:
        return int(ctx.values["metadata.duration"])
    return int(ctx.values.get("duration", 5))


def _kling_rules(ctx: Context) -> None:
    values = ctx.values
    if "image_tail" in values and "image" not in values:
        raise ctx.upstream("image_tail needs image (a first frame) too")
    if "image_list" in values and ("image" in values or "image_tail" in values):
        raise ctx.upstream("image_list can't be combined with image or image_tail: one mode at a time")
    if values.get("multi_shot"):
        if "image_tail" in values:
            raise ctx.upstream("image_tail is not supported with multi_shot")
        if values.get("shot_type") not in ("customize", "intelligence"):
            raise ctx.upstream("shot_type is required with multi_shot")
        shots = values.get("multi_prompt")
        if values.get("shot_type") == "customize":
            if not shots:
                raise ctx.upstream("multi_prompt is required when shot_type is customize")
            total = sum(int(shot["duration"]) for shot in shots)
            if total != _kling_duration(ctx):
                raise ctx.upstream(f"the shots add up to {total} s but duration is {_kling_duration(ctx)} s")


KLING_V3 = Schema(
    "kling-v3",
    "kling",
    BASE64_OR_URL,
    (
        _prompt(2500),
        Field("image", ("image",), "image"),
        Field("duration", ("duration",), "duration", low=3, high=15),
        Field("metadata.duration", ("metadata.duration",), "numstr", low=3, high=15),
        Field("mode", ("mode", "metadata.mode"), "enum", choices=("std", "pro")),
        Field("aspect_ratio", ("metadata.aspect_ratio",), "enum", choices=("16:9", "9:16", "1:1")),
        Field("negative_prompt", ("metadata.negative_prompt",), "text", max_len=2500),
        Field("cfg_scale", ("metadata.cfg_scale",), "number", low=0, high=1),
        Field("image_tail", ("metadata.image_tail",), "image"),
        Field("watermark", ("metadata.watermark_info.enabled",), "bool"),
        Field("sound", ("metadata.sound",), "enum", choices=("on", "off")),
        Field("multi_shot", ("metadata.multi_shot",), "bool"),
        Field("shot_type", ("metadata.shot_type",), "enum", choices=("customize", "intelligence")),
        Field("multi_prompt", ("metadata.multi_prompt",), "custom", check=_kling_shots),
        Field("image_list", ("metadata.image_list",), "custom", check=_kling_image_list),
    ),
    rules=(_kling_rules,),
    read_also=(
        "metadata.prompt",
        "metadata.model_name",
        "metadata.element_list",
        "metadata.camera_control",
        "metadata.static_mask",
        "metadata.dynamic_masks",
        "metadata.callback_url",
        "metadata.external_task_id",
    ),
)


# ---- Seedance (Ark, through New API's doubao adaptor) -----------------------------------------------------------

SEEDANCE_ROLES = ("first_frame", "last_frame", "reference_image")


def _seedance_content(value: Any, ctx: Context) -> None:
    _want(isinstance(value, list), "metadata.content", value, "array")
    for index, item in enumerate(value):
        place = f"metadata.content.{index}"
        _want(isinstance(item, dict), place, item, "object")
        if item.get("type") != "image_url":
            raise ctx.upstream(f"content[{index}].type must be image_url (the prompt is the text item)")
        url = item.get("image_url")
        _want(isinstance(url, dict), f"{place}.image_url", url, "object")
        _want(isinstance(url.get("url"), str), f"{place}.image_url.url", url.get("url"), "string")
        if item.get("role", "first_frame") not in SEEDANCE_ROLES:
            raise ctx.upstream(f"content[{index}].role {item.get('role')!r} is not supported")
        ctx.images.append((f"{place}.image_url.url", url["url"]))


def _seedance_rules(ctx: Context) -> None:
    content = ctx.values.get("content")
    if not content:
        return
    roles = [item.get("role", "first_frame") for item in content]
    firsts, lasts, references = (roles.count(role) for role in SEEDANCE_ROLES)
    if firsts > 1 or lasts > 1:
        raise ctx.upstream("at most one first_frame and one last_frame")
    if lasts and not firsts:
        raise ctx.upstream("last_frame needs a first_frame")
    if references and (firsts or lasts):
        raise ctx.upstream("reference images can't be combined with first/last frames")
    if references > 9:
        raise ctx.upstream(f"at most 9 reference images; got {references}")


def _seedance_duration(ctx: Context) -> None:
    for key in ("duration", "metadata.duration", "seconds"):
        seconds = ctx.values.get(key)
        if seconds is not None and int(seconds) != -1 and not 4 <= int(seconds) <= 15:
            raise ctx.upstream(f"duration {seconds} is out of range [4, 15] (or -1)")


SEEDANCE_2 = Schema(
    "seedance-2.0",
    "seedance",
    URL_OR_DATA_URI,
    (
        _prompt(None),
        Field("duration", ("duration",), "duration"),
        Field("seconds", ("seconds",), "numstr"),
        Field("metadata.duration", ("metadata.duration",), "int"),
        Field("images", ("images",), "images", max_items=9),
        Field("resolution", ("metadata.resolution",), "enum", choices=("480p", "720p", "1080p")),
        Field("ratio", ("metadata.ratio",), "enum", choices=("21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "adaptive")),
        Field("generate_audio", ("metadata.generate_audio",), "bool"),
        _seed(("metadata.seed",), high=4_294_967_295, low=-1),
        Field("watermark", ("metadata.watermark",), "bool"),
        Field("camera_fixed", ("metadata.camera_fixed",), "bool"),
        Field("return_last_frame", ("metadata.return_last_frame",), "bool"),
        Field("draft", ("metadata.draft",), "bool"),
        Field("content", ("metadata.content",), "custom", check=_seedance_content),
    ),
    rules=(_seedance_duration, _seedance_rules),
)


# ---- Veo (New API's gemini/vertex adaptor) ----------------------------------------------------------------------


def _veo_images(value: Any, ctx: Context) -> None:
    _want(isinstance(value, list), "images", value, "array")
    if not value:
        return
    _want(isinstance(value[0], str), "images.0", value[0], "string")
    if is_http_url(value[0]):
        # The adaptor inlines the image for Google: it takes base64 or a data: URI, never a URL.
        raise Rejection(400, "invalid_request", "images[0] must be base64 or a data: URI; http URLs are not supported")
    ctx.images.append(("images.0", value[0]))
    # Only the first image is read (last frame and reference images are a TODO in the adaptor).
    ctx.consumed.discard("images")
    ctx.consumed.add("images.0")


VEO_3_1 = Schema(
    "veo-3.1",
    "veo",
    DATA_URI_OR_BASE64,
    (
        _prompt(None),
        Field("duration", ("duration",), "duration", choices=(4, 6, 8)),
        Field("images", ("images",), "custom", check=_veo_images),
        Field("durationSeconds", ("metadata.durationSeconds",), "int", choices=(4, 6, 8)),
        Field("aspectRatio", ("metadata.aspectRatio",), "enum", choices=("16:9", "9:16")),
        Field("resolution", ("metadata.resolution",), "enum", choices=("720p", "1080p", "4k")),
        Field("generateAudio", ("metadata.generateAudio",), "bool"),
        Field("negativePrompt", ("metadata.negativePrompt",), "text"),
        _seed(("metadata.seed",), high=4_294_967_295),
        Field("personGeneration", ("metadata.personGeneration",), "enum", choices=("allow_all", "allow_adult")),
        Field("sampleCount", ("metadata.sampleCount",), "int", low=1, high=4),
    ),
)


# ---- Wan and HappyHorse (DashScope, through New API's ali adaptor) ---------------------------------------------


def _dashscope_common(family: str, duration: tuple[int, int], *, negative: bool = True) -> tuple[Field, ...]:
    fields = [
        Field("resolution", (*dash("resolution"), "size"), "enum", choices=DASHSCOPE_RESOLUTIONS),
        Field(
            "duration",
            ("duration", "metadata.duration", "metadata.parameters.duration"),
            "duration",
            low=duration[0],
            high=duration[1],
        ),
        Field("watermark", dash("watermark"), "bool"),
        _seed(dash("seed")),
    ]
    if negative:
        fields.append(Field("negative_prompt", dash("negative_prompt", "input"), "text", max_len=500))
    if family == "wan":
        fields.append(Field("prompt_extend", dash("prompt_extend"), "bool"))
    return tuple(fields)


def _wan27_media(value: Any, ctx: Context) -> None:
    _want(isinstance(value, list), "metadata.input.media", value, "array")
    for index, item in enumerate(value):
        place = f"metadata.input.media.{index}"
        _want(isinstance(item, dict), place, item, "object")
        kind = item.get("type")
        if kind not in ("reference_image", "reference_video", "first_frame"):
            raise ctx.upstream(f"media[{index}].type {kind!r} is not supported")
        _want(isinstance(item.get("url"), str), f"{place}.url", item.get("url"), "string")
        ctx.images.append((f"{place}.url", item["url"]))


def _wan27_reference_image(value: Any, ctx: Context) -> None:
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        _want(isinstance(item, str), f"reference_image.{index}", item, "string")
        ctx.images.append((f"reference_image.{index}", item))


def _wan27_r2v_rules(ctx: Context) -> None:
    media = ctx.values.get("media") or []
    images = [m for m in media if m.get("type") == "reference_image"]
    videos = [m for m in media if m.get("type") == "reference_video"]
    direct = ctx.values.get("reference_image")
    if direct is not None:
        images += direct if isinstance(direct, list) else [direct]
    if not images:
        raise Rejection(400, "invalid_request", "reference_image is required")
    if len(images) + len(videos) > 5:
        raise ctx.upstream(f"at most 5 references (images and videos); got {len(images) + len(videos)}")
    duration = ctx.values.get("duration")
    if videos and duration is not None and int(duration) > 10:
        raise ctx.upstream("duration is at most 10 s with a reference video")


def _wan_schema(
    model: str, duration: tuple[int, int], *extra: Field, rules: tuple[Callable[[Context], None], ...] = ()
) -> Schema:
    return Schema(
        model,
        "wan",
        URL_ONLY,
        (_prompt(5000, *dash("prompt", "input")), *_dashscope_common("wan", duration), *extra),
        rules,
    )


RATIO = Field("ratio", dash("ratio"), "enum", choices=DASHSCOPE_RATIOS)
AUDIO_URL = Field("audio_url", dash("audio_url", "input"), "text")
AUDIO = Field("audio", dash("audio"), "bool")
SHOT_TYPE = Field("shot_type", dash("shot_type"), "enum", choices=("single", "multi"))

WAN_26_T2V = _wan_schema("wan2.6-t2v", (2, 15), RATIO, AUDIO_URL)
WAN_26_I2V_FLASH = _wan_schema(
    "wan2.6-i2v-flash",
    (2, 15),
    Field("img_url", dash("img_url", "input"), "image", required=True),
    AUDIO_URL,
    AUDIO,
    SHOT_TYPE,
)
WAN_26_R2V = Schema(
    "wan2.6-r2v",
    "wan",
    URL_ONLY,
    (
        _prompt(None, *dash("prompt", "input")),
        Field("refs", dash("refs", "input"), "images", max_items=5),
        Field("size", dash("size"), "enum", choices=WAN_R2V_SIZES),
        Field(
            "duration", ("duration", "metadata.duration", "metadata.parameters.duration"), "duration", low=2, high=10
        ),
        Field("negative_prompt", dash("negative_prompt", "input"), "text", max_len=500),
        SHOT_TYPE,
        AUDIO,
        Field("watermark", dash("watermark"), "bool"),
        _seed(dash("seed")),
    ),
)
WAN_27_T2V = _wan_schema("wan2.7-t2v", (2, 15), RATIO, AUDIO_URL)
# New API: older adaptors read the first frame from `image` and the end frame from metadata.last_frame_url,
# newer ones both from `images`.
WAN_27_I2V = _wan_schema(
    "wan2.7-i2v",
    (2, 15),
    Field("first_frame", ("image", "images.0", *dash("first_frame", "input")), "image", required=True),
    Field("last_frame", ("images.1", "metadata.last_frame_url", *dash("last_frame", "input")), "image"),
)
WAN_27_R2V = _wan_schema(
    "wan2.7-r2v",
    (2, 15),
    RATIO,
    Field("media", ("metadata.input.media",), "custom", check=_wan27_media),
    Field("reference_image", dash("reference_image", "input"), "custom", check=_wan27_reference_image),
    Field("first_frame", dash("first_frame", "input"), "image"),
    rules=(_wan27_r2v_rules,),
)


def _happyhorse_schema(model: str, *extra: Field) -> Schema:
    return Schema(
        model,
        "happyhorse",
        URL_ONLY,
        (_prompt(5000, *dash("prompt", "input")), *_dashscope_common("happyhorse", (3, 15), negative=False), *extra),
    )


HAPPYHORSE_T2V = _happyhorse_schema("happyhorse-1.0-t2v", RATIO)
HAPPYHORSE_I2V = _happyhorse_schema(
    "happyhorse-1.0-i2v", Field("img_url", (*dash("img_url", "input"), "image", "images.0"), "image", required=True)
)
HAPPYHORSE_R2V = _happyhorse_schema(
    "happyhorse-1.0-r2v",
    Field("ratio", dash("ratio"), "enum", choices=("16:9", "9:16", "1:1", "4:3", "3:4", "4:5", "5:4", "21:9", "9:21")),
    Field("images", top("images"), "images", required=True, min_items=1, max_items=9),
)


# ---- Vidu ----------------------------------------------------------------------------------------------------


def _viduq3_prompt(ctx: Context) -> None:
    # Simple mode (reference images) takes 2000 characters; Subject mode 5000.
    if ctx.values.get("images") and len(ctx.values["prompt"]) > 2000:
        raise ctx.upstream("prompt is over 2000 characters (Simple mode)")


def _vidu_common(duration: tuple[int, int]) -> tuple[Field, ...]:
    return (
        Field("duration", top("duration"), "duration", low=duration[0], high=duration[1]),
        Field("resolution", (*top("resolution"), "size"), "enum", choices=("540p", "720p", "1080p")),
        Field("audio", top("audio"), "bool"),
        Field("audio_type", top("audio_type"), "enum", choices=("all", "speech_only", "sound_effect_only")),
        _seed(top("seed")),
        Field("off_peak", top("off_peak"), "bool"),
        Field("bgm", top("bgm"), "bool"),
        Field("movement_amplitude", top("movement_amplitude"), "enum", choices=("auto", "small", "medium", "large")),
    )


VIDUQ3 = Schema(
    "viduq3",
    "vidu",
    URL_ONLY,
    (
        _prompt(5000, *top("prompt")),
        Field("images", top("images"), "images", max_items=7),
        Field("aspect_ratio", top("aspect_ratio"), "enum", choices=("16:9", "9:16", "1:1")),
        *_vidu_common((3, 16)),
    ),
    rules=(_viduq3_prompt,),
)
# Head-tail frames: New API sends the first and the last frame as the two entries of `images`.
VIDUQ3_PRO = Schema(
    "viduq3-pro",
    "vidu",
    URL_ONLY,
    (
        _prompt(5000, *top("prompt")),
        Field("first_frame", ("image", "images.0", "metadata.image"), "image", required=True),
        Field("last_frame", ("images.1",), "image"),
        Field("is_rec", top("is_rec"), "bool"),
        *_vidu_common((1, 16)),
    ),
)


SCHEMAS: dict[str, Schema] = {
    schema.model: schema
    for schema in (
        KLING_V3,
        SEEDANCE_2,
        VEO_3_1,
        WAN_26_T2V,
        WAN_26_I2V_FLASH,
        WAN_26_R2V,
        WAN_27_T2V,
        WAN_27_I2V,
        WAN_27_R2V,
        HAPPYHORSE_T2V,
        HAPPYHORSE_I2V,
        HAPPYHORSE_R2V,
        VIDUQ3,
        VIDUQ3_PRO,
    )
}
MODEL_IDS: tuple[str, ...] = tuple(SCHEMAS)


def family_of(model: str) -> str | None:
    schema = SCHEMAS.get(model)
    return schema.family if schema is not None else None
