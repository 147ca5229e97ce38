"""The JSON body of a create call, built from a validated `VideoRequest` (Recipes in modelstream-api.md).

Kling-native options go in `metadata`, which the gateway merges over its own Kling body; their types must
be Kling's (durations as strings) or the gateway fails the call with 500. Images are sent as bare base64:
Kling refuses `data:` URIs and Discord's attachment URLs expire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from bot.domain.request import GenerationMode, ImageRole, ImageSlot, VideoRequest

REFERENCE_FIELDS = ("metadata.image_list", "images")


def build_create_payload(
    request: VideoRequest,
    images: Mapping[str, bytes],
    *,
    reference_field: str = "metadata.image_list",
) -> dict[str, Any]:
    """The create body for `request`; `images` holds each slot's bytes keyed by sha256.

    `reference_field` says where reference images go: `metadata.image_list` (`[{"image_url": b64}]`) or
    `images` (a top-level list of base64 strings); ModelStream's choice is unconfirmed.
    Raises ValueError when an image's bytes are missing or the request mixes things the API refuses.
    """
    if reference_field not in REFERENCE_FIELDS:
        raise ValueError(f"unsupported reference field {reference_field!r}")
    metadata: dict[str, Any] = {"cfg_scale": request.cfg_scale, "watermark_info": {"enabled": request.watermark}}
    if request.aspect_ratio is not None:
        metadata["aspect_ratio"] = request.aspect_ratio.value
    if request.negative_prompt:
        metadata["negative_prompt"] = request.negative_prompt
    payload: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "duration": int(request.duration),
        "mode": request.mode.value,
        "metadata": metadata,
    }

    if request.generation_mode is GenerationMode.REFERENCE:
        references = [_b64(images, slot) for slot in _slots(request, ImageRole.REFERENCE)]
        if reference_field == "images":
            payload["images"] = references
        else:
            metadata["image_list"] = [{"image_url": data} for data in references]
    elif request.generation_mode is GenerationMode.IMAGE:
        first = _slots(request, ImageRole.FIRST_FRAME)
        last = _slots(request, ImageRole.LAST_FRAME)
        if not first:
            raise ValueError("an image request needs a first frame")
        payload["image"] = _b64(images, first[0])
        if last:
            if request.multi_shot:
                raise ValueError("a multi-shot request cannot have a last frame")
            metadata["image_tail"] = _b64(images, last[0])

    if request.multi_shot:
        _add_shots(payload, metadata, request)
    return payload


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The bytes the client sends for `payload`."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload_size(payload: Mapping[str, Any]) -> int:
    """Size in bytes of the body sent for `payload`, to compare with the API's 32 MB limit."""
    return len(encode_payload(payload))


def _add_shots(payload: dict[str, Any], metadata: dict[str, Any], request: VideoRequest) -> None:
    if not request.shots:
        raise ValueError("a multi-shot request needs its shots")
    metadata["multi_shot"] = True
    metadata["shot_type"] = "customize"
    # Kling types shot durations as strings; a number makes the gateway fail with build_request_failed.
    metadata["multi_prompt"] = [
        {"index": index, "prompt": shot.prompt, "duration": str(shot.duration)}
        for index, shot in enumerate(request.shots, start=1)
    ]
    payload["duration"] = sum(shot.duration for shot in request.shots)
    # The gateway refuses an empty prompt even in multi-shot mode.
    if not request.prompt.strip():
        payload["prompt"] = " ".join(shot.prompt for shot in request.shots)


def _slots(request: VideoRequest, role: ImageRole) -> list[ImageSlot]:
    return sorted((slot for slot in request.images if slot.role is role), key=lambda slot: slot.index)


def _b64(images: Mapping[str, bytes], slot: ImageSlot) -> str:
    try:
        data = images[slot.sha256]
    except KeyError:
        raise ValueError(f"no bytes for the {slot.role.value} image {slot.sha256[:12]}") from None
    return base64.b64encode(data).decode("ascii")
