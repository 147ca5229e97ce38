"""The JSON body of a create call, built from a validated `VideoRequest` and its model's entry in the table.

One builder for every model: each option the request carries goes to the JSON path(s) the model table gives
it, translated through the table's values, with images sent the way the model takes them (bare base64, a data
URI, or Discord's attachment URL). A hook adds what data cannot say: Kling's storyboard, Wan's `w*h` size.
Watermark and sound are always sent where the model has a switch, since the gateways' defaults differ.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from bot.domain.images import image_mime
from bot.domain.models import ImageTransport, ModelSpec, ModelTable, ModelTableError, ModeSpec, SoundSupport, Target
from bot.domain.request import GenerationMode, ImageRole, ImageSlot, VideoRequest
from bot.domain.validation import IMAGE_MENTION

Hook = Callable[[dict[str, Any], VideoRequest, ModeSpec], None]


class ImageUnavailable(ValueError):
    """An input image can't be sent: its bytes are gone, or (URL models) it has no live URL."""


def build_create_payload(request: VideoRequest, model: ModelSpec, images: Mapping[str, bytes]) -> dict[str, Any]:
    """The create body for `request` on `model`; `images` holds each slot's bytes keyed by sha256.

    Models that take image URLs use each slot's `url` (the caller refreshes stale ones first) and need no bytes.
    Raises ValueError when the model has no such generation mode, or an image's bytes or URL are missing.
    """
    spec = model.mode(request.generation_mode)
    if spec is None:
        raise ValueError(f"{model.key} has no {request.generation_mode.value} mode")
    _check_images(request, model, spec)
    body: dict[str, Any] = {"model": spec.api_id}

    def put(option: str, value: Any) -> None:
        for target in spec.fields.get(option, ()):
            _put(body, target, value)

    put("prompt", translate_mentions(request.prompt, spec.reference_syntax))
    put("duration", request.duration)
    put("mode", spec.wire_value("mode", request.mode.value))
    if request.aspect_ratio is not None:
        put("aspect_ratio", spec.wire_value("aspect_ratio", request.aspect_ratio.value))
    if request.negative_prompt and spec.negative_prompt_max is not None:
        put("negative_prompt", request.negative_prompt)
    if spec.cfg_scale:
        put("cfg_scale", request.cfg_scale)
    if spec.seed and request.seed is not None:
        put("seed", request.seed)
    if spec.sound is SoundSupport.OPTIONAL:
        put("sound", spec.wire_value("sound", bool(request.sound)))
    if spec.watermark:
        put("watermark", spec.wire_value("watermark", request.watermark))

    encode = _encoder(model.image_transport, images)
    for role, option in ((ImageRole.FIRST_FRAME, "first_frame"), (ImageRole.LAST_FRAME, "last_frame")):
        for slot in _slots(request, role)[:1]:
            put(option, encode(slot))
    references = _slots(request, ImageRole.REFERENCE)
    if references:
        put("references", [encode(slot) for slot in references])

    if spec.hook is not None:
        HOOK_CODE[spec.hook](body, request, spec)
    return body


def translate_mentions(prompt: str, syntax: str) -> str:
    """Members write `<<<image_N>>>`; each model names image N its own way (`[Image N]`, `character1`...)."""
    return IMAGE_MENTION.sub(lambda match: syntax.format(n=int(match[1])), prompt)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The bytes the client sends for `payload`."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload_size(payload: Mapping[str, Any]) -> int:
    """Size in bytes of the body sent for `payload`, to compare with the API's 32 MB limit."""
    return len(encode_payload(payload))


# ---- writing values at paths ---------------------------------------------------------------------------


def _put(body: dict[str, Any], target: Target, value: Any) -> None:
    place = body
    for key in target.path[:-1]:
        inner = place.get(key)
        if not isinstance(inner, dict):
            inner = place[key] = {}
        place = inner
    last = target.path[-1]
    items = value if isinstance(value, list) else [value]
    items = [_fill(target.item, item) if target.item is not None else item for item in items]
    if target.as_text:
        items = [str(item) for item in items]
    if target.append:
        existing = place.get(last)
        if not isinstance(existing, list):
            existing = place[last] = []
        existing.extend(items)
    else:
        place[last] = items if isinstance(value, list) else items[0]


def _fill(template: Any, image: Any) -> Any:
    """The template with every "{image}" string replaced by the image (a deep copy, never shared)."""
    if isinstance(template, str):
        return image if template == "{image}" else template.replace("{image}", str(image))
    if isinstance(template, Mapping):
        return {key: _fill(item, image) for key, item in template.items()}
    if isinstance(template, list):
        return [_fill(item, image) for item in template]
    return template


# ---- images ----------------------------------------------------------------------------------------------


def _encoder(transport: ImageTransport, images: Mapping[str, bytes]) -> Callable[[ImageSlot], str]:
    def encode(slot: ImageSlot) -> str:
        if transport is ImageTransport.URL:
            if not slot.url:
                raise ImageUnavailable(f"no URL for the {slot.role.value} image {slot.sha256[:12]}")
            return slot.url
        try:
            data = images[slot.sha256]
        except KeyError:
            raise ImageUnavailable(f"no bytes for the {slot.role.value} image {slot.sha256[:12]}") from None
        encoded = base64.b64encode(data).decode("ascii")
        # Kling refuses a data: prefix; Seedance and Veo want one.
        return f"data:{image_mime(data)};base64,{encoded}" if transport is ImageTransport.DATA_URI else encoded

    return encode


# The images each generation mode carries; validation guarantees it, and an image is never dropped silently.
_MODE_ROLES: Mapping[GenerationMode, frozenset[ImageRole]] = {
    GenerationMode.TEXT: frozenset(),
    GenerationMode.IMAGE: frozenset({ImageRole.FIRST_FRAME, ImageRole.LAST_FRAME}),
    GenerationMode.REFERENCE: frozenset({ImageRole.REFERENCE}),
}
_ROLE_OPTION = {
    ImageRole.FIRST_FRAME: "first_frame",
    ImageRole.LAST_FRAME: "last_frame",
    ImageRole.REFERENCE: "references",
}


def _check_images(request: VideoRequest, model: ModelSpec, spec: ModeSpec) -> None:
    mode = request.generation_mode
    for slot in request.images:
        if slot.role not in _MODE_ROLES[mode]:
            raise ValueError(f"a {mode.value} request cannot carry a {slot.role.value} image")
        takes_it = spec.last_frame if slot.role is ImageRole.LAST_FRAME else True
        if not takes_it or _ROLE_OPTION[slot.role] not in spec.fields:
            raise ValueError(f"{model.key} has no field for the {slot.role.value} image in {mode.value} mode")
    if mode is GenerationMode.IMAGE and not _slots(request, ImageRole.FIRST_FRAME):
        raise ValueError("an image request needs a first frame")
    if mode is GenerationMode.REFERENCE and not _slots(request, ImageRole.REFERENCE):
        raise ValueError("a reference request needs at least one reference image")


def _slots(request: VideoRequest, role: ImageRole) -> list[ImageSlot]:
    return sorted((slot for slot in request.images if slot.role is role), key=lambda slot: slot.index)


# ---- hooks: what the table cannot say ---------------------------------------------------------------------


def _kling(body: dict[str, Any], request: VideoRequest, spec: ModeSpec) -> None:
    """Kling's storyboard goes in metadata, its shot durations typed as strings (a number makes the gateway
    fail with build_request_failed); the gateway refuses an empty prompt even then."""
    if not request.multi_shot:
        return
    if not request.shots:
        raise ValueError("a multi-shot request needs its shots")
    if any(slot.role is ImageRole.LAST_FRAME for slot in request.images):
        raise ValueError("a multi-shot request cannot have a last frame")
    metadata = body.setdefault("metadata", {})
    metadata["multi_shot"] = True
    metadata["shot_type"] = "customize"
    metadata["multi_prompt"] = [
        {"index": index, "prompt": shot.prompt, "duration": str(shot.duration)}
        for index, shot in enumerate(request.shots, start=1)
    ]
    body["duration"] = sum(shot.duration for shot in request.shots)
    if not request.prompt.strip():
        body["prompt"] = " ".join(shot.prompt for shot in request.shots)


# DashScope's sizes for each resolution and ratio (width*height).
_WAN_SIZES = {
    "720P": {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"},
    "1080P": {"16:9": "1920*1080", "9:16": "1080*1920", "1:1": "1440*1440", "4:3": "1632*1248", "3:4": "1248*1632"},
}


def _wan_size(body: dict[str, Any], request: VideoRequest, spec: ModeSpec) -> None:
    """wan2.6-r2v takes one `size` of width*height: quality and ratio together, wherever `mode` is mapped."""
    resolution = str(spec.wire_value("mode", request.mode.value)).upper()
    ratio = request.aspect_ratio.value if request.aspect_ratio is not None else "16:9"
    size = _WAN_SIZES.get(resolution, {}).get(ratio)
    if size is None:
        raise ValueError(f"no {resolution} size for {ratio}")
    for target in spec.fields.get("mode", ()):
        _put(body, target, size)


def check_hooks(table: ModelTable) -> None:
    """What each hook needs from its entry, checked at start-up: a table a hook can't follow stops the bot with
    one line, rather than failing renders one by one."""
    for model in table:
        for generation_mode, mode in model.modes.items():
            if mode.hook != "wan_size":
                continue
            for quality in mode.resolutions:
                resolution = str(mode.wire_value("mode", quality.value)).upper()
                missing = [
                    ratio.value for ratio in mode.aspect_ratios if ratio.value not in _WAN_SIZES.get(resolution, {})
                ]
                if missing:
                    raise ModelTableError(
                        f'model "{model.key}", field "modes.{generation_mode.value}.aspect_ratios": the wan_size hook '
                        f"has no {resolution} size for {', '.join(missing)}"
                    )


# The names must be those of bot.domain.models.HOOKS, which the table is checked against (a test holds both).
HOOK_CODE: Mapping[str, Hook] = {"kling": _kling, "wan_size": _wan_size}
