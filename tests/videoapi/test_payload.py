"""build_create_payload follows the Recipes of modelstream-api.md."""

from __future__ import annotations

import base64
import json

import pytest

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

FIRST = b"\x89PNG first frame bytes"
LAST = b"\xff\xd8\xff last frame bytes"
REF1 = b"reference one"
REF2 = b"reference two"
IMAGES = {"sha-first": FIRST, "sha-last": LAST, "sha-r1": REF1, "sha-r2": REF2}


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
    assert build_create_payload(text_request(), {}) == {
        "model": "kling-v3",
        "prompt": "a red fox in the snow",
        "duration": 5,
        "mode": "std",
        "metadata": {"aspect_ratio": "16:9", "cfg_scale": 0.5, "watermark_info": {"enabled": False}},
    }


def test_pro_mode_and_duration_are_top_level() -> None:
    payload = build_create_payload(text_request(mode=QualityMode.PRO, duration=10), {})
    assert (payload["mode"], payload["duration"]) == ("pro", 10)
    assert "duration" not in payload["metadata"]


def test_watermark_on() -> None:
    payload = build_create_payload(text_request(watermark=True), {})
    assert payload["metadata"]["watermark_info"] == {"enabled": True}


def test_negative_prompt_goes_in_metadata() -> None:
    payload = build_create_payload(text_request(negative_prompt="blurry"), {})
    assert payload["metadata"]["negative_prompt"] == "blurry"


def test_no_aspect_ratio_when_first_frame_decides() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),),
    )
    assert "aspect_ratio" not in build_create_payload(request, IMAGES)["metadata"]


def test_image_request_sends_first_frame_as_bare_base64_and_last_as_tail() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE,
        images=(ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last"), ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first")),
    )
    payload = build_create_payload(request, IMAGES)
    assert payload["image"] == b64(FIRST)
    assert payload["metadata"]["image_tail"] == b64(LAST)
    assert not payload["image"].startswith("data:")


def test_image_request_without_last_frame_has_no_tail() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),)
    )
    assert "image_tail" not in build_create_payload(request, IMAGES)["metadata"]


def test_image_request_without_first_frame_is_refused() -> None:
    request = text_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last"),)
    )
    with pytest.raises(ValueError, match="first frame"):
        build_create_payload(request, IMAGES)


def reference_request() -> VideoRequest:
    return text_request(
        prompt="<<<image_1>>> meets <<<image_2>>>",
        generation_mode=GenerationMode.REFERENCE,
        images=(ImageSlot(ImageRole.REFERENCE, 2, "sha-r2"), ImageSlot(ImageRole.REFERENCE, 1, "sha-r1")),
    )


def test_reference_images_go_to_image_list_in_index_order() -> None:
    payload = build_create_payload(reference_request(), IMAGES)
    assert payload["metadata"]["image_list"] == [{"image_url": b64(REF1)}, {"image_url": b64(REF2)}]
    assert "image" not in payload


def test_reference_images_as_top_level_images_list() -> None:
    payload = build_create_payload(reference_request(), IMAGES, reference_field="images")
    assert payload["images"] == [b64(REF1), b64(REF2)]
    assert "image_list" not in payload["metadata"]


def test_unknown_reference_field_is_refused() -> None:
    with pytest.raises(ValueError, match="reference field"):
        build_create_payload(reference_request(), IMAGES, reference_field="metadata.refs")


def test_missing_image_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="sha-r1"):
        build_create_payload(reference_request(), {"sha-r2": REF2})


def multi_shot_request(**changes: object) -> VideoRequest:
    request = text_request(multi_shot=True, **changes)
    return request.with_shots((Shot("the fox wakes", 3), Shot("the fox runs", 2)))


def test_multi_shot_sends_string_durations_and_their_sum() -> None:
    payload = build_create_payload(multi_shot_request(), {})
    metadata = payload["metadata"]
    assert (metadata["multi_shot"], metadata["shot_type"]) == (True, "customize")
    assert metadata["multi_prompt"] == [
        {"index": 1, "prompt": "the fox wakes", "duration": "3"},
        {"index": 2, "prompt": "the fox runs", "duration": "2"},
    ]
    assert payload["duration"] == 5


def test_multi_shot_keeps_a_non_empty_prompt() -> None:
    payload = build_create_payload(multi_shot_request(prompt=""), {})
    assert payload["prompt"] == "the fox wakes the fox runs"


def test_multi_shot_with_first_frame() -> None:
    request = multi_shot_request(
        generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"),)
    )
    assert build_create_payload(request, IMAGES)["image"] == b64(FIRST)


def test_multi_shot_refuses_last_frame() -> None:
    request = multi_shot_request(
        generation_mode=GenerationMode.IMAGE,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first"), ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last")),
    )
    with pytest.raises(ValueError, match="last frame"):
        build_create_payload(request, IMAGES)


def test_multi_shot_without_shots_is_refused() -> None:
    with pytest.raises(ValueError, match="shots"):
        build_create_payload(text_request(multi_shot=True), {})


def test_payload_size_is_the_json_byte_count() -> None:
    payload = build_create_payload(text_request(prompt="雪の中の狐"), {})
    assert payload_size(payload) == len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def test_payload_size_grows_with_images() -> None:
    request = text_request(generation_mode=GenerationMode.IMAGE, images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "big"),))
    size = payload_size(build_create_payload(request, {"big": b"x" * 3000}))
    assert 4000 < size < 4500
