"""The create body of every shipped model in every generation mode it has, field by field.

Expected bodies follow modelstream-models.md: the ModelStream form names of section 4 where a page exists, the
New API shapes of section 7 (Seedance content roles, Veo camelCase metadata, Wan 2.7 media items, Vidu head-tail
frames) where none does, and modelstream-api.md's recipes for Kling.
"""

from __future__ import annotations

import base64
import io
import tomllib
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image

from bot.domain.models import SHIPPED_MODELS, ModelSpec, ModelTableError, load_model_table, parse_model_table
from bot.domain.request import AspectRatio, GenerationMode, ImageRole, ImageSlot, QualityMode, Shot, VideoRequest
from bot.videoapi.payload import ImageUnavailable, build_create_payload, check_hooks, translate_mentions

TABLE = load_model_table()
TEXT, IMAGE, REFERENCE = GenerationMode.TEXT, GenerationMode.IMAGE, GenerationMode.REFERENCE


def encoded(color: str, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), color).save(out, fmt)
    return out.getvalue()


FIRST, LAST, REF1, REF2 = (
    encoded("red", "PNG"),
    encoded("blue", "JPEG"),
    encoded("green", "JPEG"),
    encoded("white", "PNG"),
)
BYTES = {"sha-first": FIRST, "sha-last": LAST, "sha-r1": REF1, "sha-r2": REF2}
CDN = "https://cdn.discordapp.com/attachments/11/22"
FIRST_URL, LAST_URL = f"{CDN}/first.png?ex=69a3f000&hm=aa", f"{CDN}/last.jpg?ex=69a3f000&hm=bb"
REF1_URL, REF2_URL = f"{CDN}/ref1.jpg?ex=69a3f000&hm=cc", f"{CDN}/ref2.png?ex=69a3f000&hm=dd"

FIRST_SLOT = ImageSlot(ImageRole.FIRST_FRAME, 1, "sha-first", FIRST_URL)
LAST_SLOT = ImageSlot(ImageRole.LAST_FRAME, 1, "sha-last", LAST_URL)
# Given out of order on purpose: the body lists references by their number.
REFERENCE_SLOTS = (
    ImageSlot(ImageRole.REFERENCE, 2, "sha-r2", REF2_URL),
    ImageSlot(ImageRole.REFERENCE, 1, "sha-r1", REF1_URL),
)

PROMPT = "a red fox in the snow"
REFERENCE_PROMPT = "<<<image_1>>> meets <<<image_2>>> in the snow"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes) -> str:
    mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{mime};base64,{b64(data)}"


def model(key: str) -> ModelSpec:
    spec = TABLE.get(key)
    assert spec is not None
    return spec


def text(key: str, **changes: Any) -> VideoRequest:
    fields: dict[str, Any] = {
        "prompt": PROMPT,
        "generation_mode": TEXT,
        "mode": QualityMode.STD,
        "duration": 5,
        "aspect_ratio": AspectRatio.WIDE,
        "model": key,
    }
    fields.update(changes)
    return VideoRequest(**fields)


def image(key: str, *, last: bool = True, **changes: Any) -> VideoRequest:
    slots = (LAST_SLOT, FIRST_SLOT) if last else (FIRST_SLOT,)
    return text(key, **{"generation_mode": IMAGE, "aspect_ratio": None, "images": slots, **changes})


def reference(key: str, **changes: Any) -> VideoRequest:
    fields = {
        "prompt": REFERENCE_PROMPT,
        "generation_mode": REFERENCE,
        "aspect_ratio": AspectRatio.TALL,
        "images": REFERENCE_SLOTS,
        **changes,
    }
    return text(key, **fields)


def build(request: VideoRequest, images: dict[str, bytes] | None = None) -> dict[str, Any]:
    return build_create_payload(request, model(request.model), BYTES if images is None else images)


# Each case: the request, the bytes the builder gets (URL models get none: the URL is all they need), the body.
CASES = [
    # --- kling-v3: bare base64, everything provider-specific in metadata, sound as "on"/"off" -----------------
    pytest.param(
        text(
            "kling-v3",
            mode=QualityMode.PRO,
            duration=10,
            aspect_ratio=AspectRatio.TALL,
            negative_prompt="blurry",
            cfg_scale=0.3,
            sound=True,
            watermark=True,
        ),
        BYTES,
        {
            "model": "kling-v3",
            "prompt": PROMPT,
            "duration": 10,
            "mode": "pro",
            "metadata": {
                "aspect_ratio": "9:16",
                "negative_prompt": "blurry",
                "cfg_scale": 0.3,
                "sound": "on",
                "watermark_info": {"enabled": True},
            },
        },
        id="kling-v3-text",
    ),
    pytest.param(
        image("kling-v3"),
        BYTES,
        {
            "model": "kling-v3",
            "prompt": PROMPT,
            "duration": 5,
            "mode": "std",
            "image": b64(FIRST),
            "metadata": {
                "cfg_scale": 0.5,
                "sound": "off",
                "watermark_info": {"enabled": False},
                "image_tail": b64(LAST),
            },
        },
        id="kling-v3-image",
    ),
    pytest.param(
        reference("kling-v3"),
        BYTES,
        {
            "model": "kling-v3",
            "prompt": REFERENCE_PROMPT,
            "duration": 5,
            "mode": "std",
            "metadata": {
                "aspect_ratio": "9:16",
                "cfg_scale": 0.5,
                "sound": "off",
                "watermark_info": {"enabled": False},
                "image_list": [{"image_url": b64(REF1)}, {"image_url": b64(REF2)}],
            },
        },
        id="kling-v3-reference",
    ),
    pytest.param(
        text("kling-v3", multi_shot=True, duration=99).with_shots((Shot("the fox wakes", 4), Shot("it runs", 3))),
        BYTES,
        {
            "model": "kling-v3",
            "prompt": PROMPT,
            "duration": 7,
            "mode": "std",
            "metadata": {
                "aspect_ratio": "16:9",
                "cfg_scale": 0.5,
                "sound": "off",
                "watermark_info": {"enabled": False},
                "multi_shot": True,
                "shot_type": "customize",
                "multi_prompt": [
                    {"index": 1, "prompt": "the fox wakes", "duration": "4"},
                    {"index": 2, "prompt": "it runs", "duration": "3"},
                ],
            },
        },
        id="kling-v3-multi-shot",
    ),
    # --- seedance-2.0: data URIs, content items with roles, duration three ways, [Image N] --------------------
    pytest.param(
        text("seedance-2.0", mode=QualityMode.PRO, duration=6, aspect_ratio=AspectRatio.CINEMA, seed=42, sound=True),
        BYTES,
        {
            "model": "seedance-2.0",
            "prompt": PROMPT,
            "duration": 6,
            "seconds": "6",
            "metadata": {
                "duration": 6,
                "resolution": "1080p",
                "ratio": "21:9",
                "seed": 42,
                "generate_audio": True,
                "watermark": False,
            },
        },
        id="seedance-2.0-text",
    ),
    pytest.param(
        image("seedance-2.0", seed=42, sound=False),
        BYTES,
        {
            "model": "seedance-2.0",
            "prompt": PROMPT,
            "duration": 5,
            "seconds": "5",
            "images": [data_uri(FIRST), data_uri(LAST)],
            "metadata": {
                "duration": 5,
                "resolution": "720p",
                "seed": 42,
                "generate_audio": False,
                "watermark": False,
                "content": [
                    {"type": "image_url", "image_url": {"url": data_uri(FIRST)}, "role": "first_frame"},
                    {"type": "image_url", "image_url": {"url": data_uri(LAST)}, "role": "last_frame"},
                ],
            },
        },
        id="seedance-2.0-image",
    ),
    pytest.param(
        reference("seedance-2.0", seed=9, sound=True, watermark=True),
        BYTES,
        {
            "model": "seedance-2.0",
            "prompt": "[Image 1] meets [Image 2] in the snow",
            "duration": 5,
            "seconds": "5",
            "images": [data_uri(REF1), data_uri(REF2)],
            "metadata": {
                "duration": 5,
                "resolution": "720p",
                "ratio": "9:16",
                "seed": 9,
                "generate_audio": True,
                "watermark": True,
                "content": [
                    {"type": "image_url", "image_url": {"url": data_uri(REF1)}, "role": "reference_image"},
                    {"type": "image_url", "image_url": {"url": data_uri(REF2)}, "role": "reference_image"},
                ],
            },
        },
        id="seedance-2.0-reference",
    ),
    # --- veo-3.1: images[] as data URI, Google's camelCase parameters in metadata, no watermark ----------------
    pytest.param(
        text("veo-3.1", mode=QualityMode.PRO, duration=8, negative_prompt="blurry", seed=7, sound=True),
        BYTES,
        {
            "model": "veo-3.1",
            "prompt": PROMPT,
            "duration": 8,
            "metadata": {
                "durationSeconds": 8,
                "resolution": "1080p",
                "aspectRatio": "16:9",
                "negativePrompt": "blurry",
                "seed": 7,
                "generateAudio": True,
            },
        },
        id="veo-3.1-text",
    ),
    pytest.param(
        replace(
            image("veo-3.1", last=False, duration=6, seed=7, sound=False),
            images=(replace(LAST_SLOT, role=ImageRole.FIRST_FRAME),),
        ),
        BYTES,
        {
            "model": "veo-3.1",
            "prompt": PROMPT,
            "duration": 6,
            "images": [data_uri(LAST)],
            "metadata": {"durationSeconds": 6, "resolution": "720p", "seed": 7, "generateAudio": False},
        },
        id="veo-3.1-image",
    ),
    # --- wan-2.6: one id per mode, top-level form names, URLs, no audio switch in text mode --------------------
    pytest.param(
        text("wan-2.6", negative_prompt="blurry", seed=42, sound=True),
        {},
        {
            "model": "wan2.6-t2v",
            "prompt": PROMPT,
            "duration": 5,
            "resolution": "720P",
            "ratio": "16:9",
            "negative_prompt": "blurry",
            "seed": 42,
            "watermark": False,
        },
        id="wan-2.6-text",
    ),
    pytest.param(
        image("wan-2.6", last=False, mode=QualityMode.PRO, duration=15, seed=42, sound=False, watermark=True),
        {},
        {
            "model": "wan2.6-i2v-flash",
            "prompt": PROMPT,
            "duration": 15,
            "resolution": "1080P",
            "seed": 42,
            "audio": False,
            "watermark": True,
            "img_url": FIRST_URL,
        },
        id="wan-2.6-image",
    ),
    pytest.param(
        reference("wan-2.6", duration=10, negative_prompt="blurry", seed=42, sound=True),
        {},
        {
            "model": "wan2.6-r2v",
            "prompt": "character1 meets character2 in the snow",
            "duration": 10,
            "size": "720*1280",
            "negative_prompt": "blurry",
            "seed": 42,
            "audio": True,
            "watermark": False,
            "refs": [REF1_URL, REF2_URL],
        },
        id="wan-2.6-reference",
    ),
    # --- wan-2.7: first frame as image and images[0], end frame as images[1] and metadata.last_frame_url -------
    pytest.param(
        text("wan-2.7", aspect_ratio=AspectRatio.LANDSCAPE, negative_prompt="blurry", seed=3),
        {},
        {
            "model": "wan2.7-t2v",
            "prompt": PROMPT,
            "duration": 5,
            "resolution": "720P",
            "ratio": "4:3",
            "negative_prompt": "blurry",
            "seed": 3,
            "watermark": False,
        },
        id="wan-2.7-text",
    ),
    pytest.param(
        image("wan-2.7", mode=QualityMode.PRO, seed=3),
        {},
        {
            "model": "wan2.7-i2v",
            "prompt": PROMPT,
            "duration": 5,
            "resolution": "1080P",
            "seed": 3,
            "watermark": False,
            "image": FIRST_URL,
            "images": [FIRST_URL, LAST_URL],
            "metadata": {"last_frame_url": LAST_URL},
        },
        id="wan-2.7-image",
    ),
    pytest.param(
        reference("wan-2.7", seed=3),
        {},
        {
            "model": "wan2.7-r2v",
            "prompt": "Image 1 meets Image 2 in the snow",
            "duration": 5,
            "resolution": "720P",
            "ratio": "9:16",
            "seed": 3,
            "watermark": False,
            "reference_image": [REF1_URL, REF2_URL],
        },
        id="wan-2.7-reference",
    ),
    # --- happyhorse-1.0: img_url / images, watermark always sent (its gateway default is on) -------------------
    pytest.param(
        text("happyhorse-1.0", seed=5),
        {},
        {
            "model": "happyhorse-1.0-t2v",
            "prompt": PROMPT,
            "duration": 5,
            "resolution": "720P",
            "ratio": "16:9",
            "seed": 5,
            "watermark": False,
        },
        id="happyhorse-1.0-text",
    ),
    pytest.param(
        image("happyhorse-1.0", last=False, seed=5),
        {},
        {
            "model": "happyhorse-1.0-i2v",
            "prompt": PROMPT,
            "duration": 5,
            "resolution": "720P",
            "seed": 5,
            "watermark": False,
            "img_url": FIRST_URL,
            "image": FIRST_URL,
        },
        id="happyhorse-1.0-image",
    ),
    pytest.param(
        reference("happyhorse-1.0", mode=QualityMode.PRO, aspect_ratio=AspectRatio.CINEMA, seed=5),
        {},
        {
            "model": "happyhorse-1.0-r2v",
            "prompt": "[Image 1] meets [Image 2] in the snow",
            "duration": 5,
            "resolution": "1080P",
            "ratio": "21:9",
            "seed": 5,
            "watermark": False,
            "images": [REF1_URL, REF2_URL],
        },
        id="happyhorse-1.0-reference",
    ),
    # --- vidu-q3: lowercase resolution, audio as a boolean, head-tail frames as two images --------------------
    pytest.param(
        image("vidu-q3", mode=QualityMode.PRO, duration=1, seed=8, sound=False),
        {},
        {
            "model": "viduq3-pro",
            "prompt": PROMPT,
            "duration": 1,
            "resolution": "1080p",
            "seed": 8,
            "audio": False,
            "image": FIRST_URL,
            "images": [FIRST_URL, LAST_URL],
        },
        id="vidu-q3-image",
    ),
    pytest.param(
        reference("vidu-q3", duration=16, seed=8, sound=True),
        {},
        {
            "model": "viduq3",
            "prompt": "image 1 meets image 2 in the snow",
            "duration": 16,
            "resolution": "720p",
            "aspect_ratio": "9:16",
            "seed": 8,
            "audio": True,
            "images": [REF1_URL, REF2_URL],
        },
        id="vidu-q3-reference",
    ),
]


@pytest.mark.parametrize(("request_", "images", "expected"), CASES)
def test_create_body_field_by_field(request_: VideoRequest, images: dict[str, bytes], expected: dict[str, Any]) -> None:
    assert build(request_, images) == expected


def test_every_shipped_model_and_mode_has_a_body_above() -> None:
    covered = {(param.values[0].model, param.values[0].generation_mode) for param in CASES}

    assert covered == {(spec.key, mode) for spec in TABLE for mode in spec.modes}


# --- details worth their own test ------------------------------------------------------------------------------


def test_vidu_single_image_sends_image_and_a_one_item_images() -> None:
    body = build(image("vidu-q3", last=False), {})

    assert (body["image"], body["images"]) == (FIRST_URL, [FIRST_URL])


def test_kling_frames_are_bare_base64_of_the_exact_bytes() -> None:
    body = build(image("kling-v3"))

    assert base64.b64decode(body["image"]) == FIRST
    assert base64.b64decode(body["metadata"]["image_tail"]) == LAST
    assert not body["image"].startswith("data:")


@pytest.mark.parametrize("key", ["seedance-2.0", "veo-3.1"])
def test_data_uri_says_the_type_of_the_bytes(key: str) -> None:
    png = build(image(key, last=False))["images"][0]
    jpeg = build(replace(image(key, last=False), images=(replace(LAST_SLOT, role=ImageRole.FIRST_FRAME),)))["images"][0]

    assert png.startswith("data:image/png;base64,")
    assert jpeg.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(jpeg.split(",", 1)[1]) == LAST


def test_data_uri_of_bytes_that_are_no_image_is_refused() -> None:
    with pytest.raises(ValueError, match="PNG or JPEG"):
        build(image("seedance-2.0", last=False), {"sha-first": b"not an image"})


@pytest.mark.parametrize("key", ["wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3"])
def test_url_models_need_the_url_not_the_bytes(key: str) -> None:
    request = replace(image(key, last=False), images=(replace(FIRST_SLOT, url=None),))

    with pytest.raises(ImageUnavailable, match="no URL for the first_frame image"):
        build(request)


@pytest.mark.parametrize("key", ["kling-v3", "seedance-2.0", "veo-3.1"])
def test_byte_models_need_the_bytes(key: str) -> None:
    with pytest.raises(ImageUnavailable, match="no bytes for the first_frame image sha-first"):
        build(image(key, last=False), {})


@pytest.mark.parametrize(
    ("ratio", "quality", "size"),
    [
        (AspectRatio.WIDE, QualityMode.STD, "1280*720"),
        (AspectRatio.TALL, QualityMode.STD, "720*1280"),
        (AspectRatio.SQUARE, QualityMode.STD, "960*960"),
        (AspectRatio.LANDSCAPE, QualityMode.STD, "1088*832"),
        (AspectRatio.PORTRAIT, QualityMode.STD, "832*1088"),
        (AspectRatio.WIDE, QualityMode.PRO, "1920*1080"),
        (AspectRatio.TALL, QualityMode.PRO, "1080*1920"),
        (AspectRatio.SQUARE, QualityMode.PRO, "1440*1440"),
        (AspectRatio.LANDSCAPE, QualityMode.PRO, "1632*1248"),
        (AspectRatio.PORTRAIT, QualityMode.PRO, "1248*1632"),
    ],
)
def test_wan_2_6_reference_size_is_width_by_height(ratio: AspectRatio, quality: QualityMode, size: str) -> None:
    body = build(reference("wan-2.6", aspect_ratio=ratio, mode=quality), {})

    assert body["size"] == size
    assert "resolution" not in body and "ratio" not in body


@pytest.mark.parametrize("key", ["kling-v3", "seedance-2.0", "wan-2.6", "wan-2.7", "happyhorse-1.0"])
def test_watermark_off_is_sent_in_every_mode_of_a_model_with_a_switch(key: str) -> None:
    for mode, mode_spec in model(key).modes.items():
        if mode is TEXT:
            request = text(key)
        elif mode is IMAGE:
            request = image(key, last=mode_spec.last_frame)
        else:
            request = reference(key)
        place: Any = build(request)
        for part in mode_spec.fields["watermark"][0].path:
            place = place[part]
        assert place is False, (key, mode)


def test_optional_seed_is_left_out_when_the_request_has_none() -> None:
    assert "seed" not in build(text("wan-2.6"), {})
    assert "seed" not in build(text("seedance-2.0"))["metadata"]


def test_a_silent_model_sends_no_sound_field() -> None:
    for request in (text("wan-2.7"), text("happyhorse-1.0")):
        body = build(request, {})
        assert {"audio", "sound", "generate_audio", "metadata"}.isdisjoint(body)


@pytest.mark.parametrize(
    ("syntax", "expected"),
    [
        ("<<<image_{n}>>>", "<<<image_1>>> meets <<<image_2>>>, then <<<image_1>>> again"),
        ("[Image {n}]", "[Image 1] meets [Image 2], then [Image 1] again"),
        ("character{n}", "character1 meets character2, then character1 again"),
        ("Image {n}", "Image 1 meets Image 2, then Image 1 again"),
        ("image {n}", "image 1 meets image 2, then image 1 again"),
    ],
)
def test_mentions_are_translated_to_each_models_syntax(syntax: str, expected: str) -> None:
    assert translate_mentions("<<<image_1>>> meets <<<image_2>>>, then <<<image_1>>> again", syntax) == expected


def test_a_mode_the_model_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match=r"veo-3\.1 has no reference mode"):
        build(reference("veo-3.1"))
    # No ModelStream page documents a Vidu Q3 text-to-video id.
    with pytest.raises(ValueError, match=r"vidu-q3 has no text mode"):
        build(text("vidu-q3"), {})


def test_a_body_the_hook_cannot_build_is_not_a_missing_image() -> None:
    # The tracker tells the two apart: a missing image is the member's to resend, this is the table's to fix.
    with pytest.raises(ValueError, match="no 720P size for 21:9") as caught:
        build(reference("wan-2.6", aspect_ratio=AspectRatio.CINEMA), {})

    assert not isinstance(caught.value, ImageUnavailable)


def test_an_image_the_mode_does_not_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="a text request cannot carry a first_frame image"):
        build(text("kling-v3", images=(FIRST_SLOT,)))
    with pytest.raises(ValueError, match="a reference request cannot carry a first_frame image"):
        build(replace(reference("kling-v3"), images=(*REFERENCE_SLOTS, FIRST_SLOT)))


def test_an_end_frame_the_model_cannot_send_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match=r"wan-2\.6 has no field for the last_frame image in image mode"):
        build(image("wan-2.6"), {})


def test_a_reference_request_without_references_is_refused() -> None:
    with pytest.raises(ValueError, match="needs at least one reference image"):
        build(reference("happyhorse-1.0", images=()), {})


def test_an_end_frame_is_refused_when_the_entry_turns_last_frame_off() -> None:
    # The field stays (the entry shares it), but the entry says this model takes no end frame.
    with SHIPPED_MODELS.open("rb") as handle:
        data = tomllib.load(handle)
    data["models"]["wan-2.7"]["last_frame"] = False
    wan = parse_model_table(data).get("wan-2.7")
    assert wan is not None

    with pytest.raises(ValueError, match="has no field for the last_frame image"):
        build_create_payload(image("wan-2.7"), wan, {})
    assert build_create_payload(image("wan-2.7", last=False), wan, {})["images"] == [FIRST_URL]


def test_the_shipped_table_suits_its_hooks() -> None:
    check_hooks(load_model_table())


def test_a_ratio_the_wan_size_hook_cannot_size_stops_start_up_naming_it() -> None:
    data = tomllib.loads(SHIPPED_MODELS.read_text(encoding="utf-8"))
    data["models"]["wan-2.6"]["modes"]["reference"]["aspect_ratios"] = ["16:9", "21:9"]

    with pytest.raises(ModelTableError) as broken:
        check_hooks(parse_model_table(data))

    assert str(broken.value) == (
        'model "wan-2.6", field "modes.reference.aspect_ratios": the wan_size hook has no 720P size for 21:9'
    )
