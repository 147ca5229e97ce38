"""build_create_payload for kling-v3 follows the Recipes of modelstream-api.md (other models: test_payload_families)."""

from __future__ import annotations

import base64
import io
import json
import tomllib
from typing import Any

import pytest
from PIL import Image

from bot.domain.models import SHIPPED_MODELS, ModelSpec, load_model_table, parse_model_table
from bot.domain.request import (
    AspectRatio,
    GenerationMode,
    ImageRole,
    ImageSlot,
    QualityMode,
    Shot,
    VideoRequest,
)
from bot.videoapi.payload import build_create_payload, payload_size


def encoded(color: str, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 320), color).save(out, fmt)
    return out.getvalue()


FIRST = encoded("red", "PNG")
LAST = encoded("blue", "JPEG")
REF1 = encoded("green", "PNG")
REF2 = encoded("white", "JPEG")
IMAGES = {"sha-first": FIRST, "sha-last": LAST, "sha-r1": REF1, "sha-r2": REF2}
KLING = load_model_table().get("kling-v3")
assert KLING is not None


def build(request: VideoRequest, images: dict[str, bytes] | None = None, model: ModelSpec = KLING) -> dict[str, Any]:
    return build_create_payload(request, model, images or {})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def text_request(**changes: object) -> VideoRequest:
    fields: dict[str, object] = {
        "prompt": "a red fox in the snow",
        "generation_mode": GenerationMode.TEXT,
        "mode": QualityMode.STD,
        "duration": 5,
        "aspect_ratio": AspectRatio.WIDE,
    }
    fields.update(changes)
    return VideoRequest(**fields)  # type: ignore[arg-type]


def test_text_request_matches_recipe() -> None:
    # The recipe, plus `sound`: Kling's default differs by version, so "off" is said out loud.
    assert build(text_request()) == {
        "model": "kling-v3",
        "prompt": "a red fox in the snow",
        "duration": 5,
        "mode": "std",
        "metadata": {
            "aspect_ratio": "16:9",
            "cfg_scale": 0.5,
            "sound": "off",
            "watermark_info": {"enabled": False},
        },
    }


def test_sound_on_is_the_string_on() -> None:
    assert build(text_request(sound=True))["metadata"]["sound"] == "on"
    assert build(text_request(sound=False))["metadata"]["sound"] == "off"


def test_cfg_scale_and_ratio_follow_the_request() -> None:
    metadata = build(text_request(cfg_scale=0.8, aspect_ratio=AspectRatio.SQUARE))["metadata"]
    assert (metadata["cfg_scale"], metadata["aspect_ratio"]) == (0.8, "1:1")


def test_kling_has_no_seed_even_when_the_request_carries_one() -> None:
    payload = build(text_request(seed=42))
    assert "seed" not in payload
    assert "seed" not in payload["metadata"]


def test_pro_mode_and_duration_are_top_level() -> None:
    payload = build(text_request(mode=QualityMode.PRO, duration=10))
    assert (payload["mode"], payload["duration"]) == ("pro", 10)
    assert "duration" not in payload["metadata"]


def test_watermark_on() -> None:
    payload = build(text_request(watermark=True))
    assert payload["metadata"]["watermark_info"] == {"enabled": True}


def test_negative_prompt_goes_in_metadata() -> None:
    payload = build(text_request(negative_prompt="blurry"))
    assert payload["metadata"]["negative_prompt"] == "blurry"


def test_no_aspect_ratio_when_first_frame_decides() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),),
    )
    assert "aspect_ratio" not in build(request, IMAGES)["metadata"]


def test_image_request_sends_first_frame_as_bare_base64_and_last_as_tail() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE,
        images=(ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last"), ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first")),
    )
    payload = build(request, IMAGES)
    assert payload["image"] == b64(FIRST)
    assert payload["metadata"]["image_tail"] == b64(LAST)
    assert not payload["image"].startswith("data:")


def test_image_request_without_last_frame_has_no_tail() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),)
    )
    assert "image_tail" not in build(request, IMAGES)["metadata"]


def test_image_request_without_first_frame_is_refused() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last"),)
    )
    with pytest.raises(ValueError, match="first frame"):
        build(request, IMAGES)


def reference_request() -> VideoRequest:
    return text_request(
        prompt="<<<image_1>>> meets <<<image_2>>>",
        generation_mode=GenerationMode.REFERENCE,
        images=(ImageSlot(ImageRole.REFERENCE, 2, "sha-r2"), ImageSlot(ImageRole.REFERENCE, 1, "sha-r1")),
    )


def test_reference_images_go_to_image_list_in_index_order() -> None:
    payload = build(reference_request(), IMAGES)
    assert payload["metadata"]["image_list"] == [{"image_url": b64(REF1)}, {"image_url": b64(REF2)}]
    assert "image" not in payload


def test_reference_images_as_top_level_images_list_by_an_operators_table() -> None:
    # What REFERENCE_IMAGES_FIELD=images used to do is now one line of data.
    data = {"models": {"kling-v3": _kling_entry(references="images")}}
    kling = parse_model_table(data).get("kling-v3")
    assert kling is not None

    payload = build(reference_request(), IMAGES, kling)

    assert payload["images"] == [b64(REF1), b64(REF2)]
    assert "image_list" not in payload["metadata"]


def _kling_entry(**fields: object) -> dict[str, Any]:
    with SHIPPED_MODELS.open("rb") as handle:
        entry: dict[str, Any] = tomllib.load(handle)["models"]["kling-v3"]
    entry["fields"] = {**entry["fields"], **fields}
    return entry


def test_missing_image_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="sha-r1"):
        build(reference_request(), {"sha-r2": REF2})


def multi_shot_request(**changes: object) -> VideoRequest:
    request = text_request(multi_shot=True, **changes)
    return request.with_shots((Shot("the fox wakes", 3), Shot("the fox runs", 2)))


def test_multi_shot_sends_string_durations_and_their_sum() -> None:
    payload = build(multi_shot_request())
    metadata = payload["metadata"]
    assert (metadata["multi_shot"], metadata["shot_type"]) == (True, "customize")
    assert metadata["multi_prompt"] == [
        {"index": 1, "prompt": "the fox wakes", "duration": "3"},
        {"index": 2, "prompt": "the fox runs", "duration": "2"},
    ]
    assert payload["duration"] == 5


def test_multi_shot_keeps_a_non_empty_prompt() -> None:
    payload = build(multi_shot_request(prompt=""))
    assert payload["prompt"] == "the fox wakes the fox runs"


def test_multi_shot_with_first_frame() -> None:
    request = multi_shot_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),)
    )
    assert build(request, IMAGES)["image"] == b64(FIRST)


def test_multi_shot_refuses_last_frame() -> None:
    request = multi_shot_request(
        generation_mode=GenerationMode.IMAGE,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"), ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last")),
    )
    with pytest.raises(ValueError, match="last frame"):
        build(request, IMAGES)


def test_multi_shot_without_shots_is_refused() -> None:
    with pytest.raises(ValueError, match="shots"):
        build(text_request(multi_shot=True))


def test_payload_size_is_the_json_byte_count() -> None:
    payload = build(text_request(prompt="雪の中の狐"))
    assert payload_size(payload) == len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def test_payload_size_grows_with_images() -> None:
    request = text_request(generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "big"),))
    size = payload_size(build(request, {"big": b"x" * 3000}))
    assert 4000 < size < 4500
