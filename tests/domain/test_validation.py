"""`validate_options`: every option rule of PRODUCT.md §1 that needs no image bytes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.errors import RequestValidationError
from bot.domain.request import (
    AspectRatio,
    AttachmentRef,
    ChannelDefaults,
    GenerationMode,
    QualityMode,
    RawOptions,
)
from bot.domain.validation import IMAGE_MODE_ASPECT_NOTE, attachments_of, validate_options

NO_DEFAULTS = ChannelDefaults()
MB = 1024 * 1024


def att(option: str, *, size: int = 200_000, content_type: str | None = "image/png") -> AttachmentRef:
    return AttachmentRef(
        option=option,
        filename=f"{option}.png",
        url=f"https://cdn.test/{option}.png",
        size=size,
        content_type=content_type,
    )


def refs(*numbers: int, **overrides: Any) -> tuple[AttachmentRef | None, ...]:
    return tuple(att(f"reference_{n}", **overrides) if n in numbers else None for n in range(1, 5))


def raw(prompt: str = "A red fox runs through snow", **options: Any) -> RawOptions:
    return RawOptions(prompt=prompt, **options)


def refused(options: RawOptions, defaults: ChannelDefaults = NO_DEFAULTS) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        validate_options(options, defaults)
    return caught.value


# --- happy paths ---------------------------------------------------------------------------------------------


def test_text_request_takes_product_defaults() -> None:
    request = validate_options(raw(), NO_DEFAULTS)

    assert request.generation_mode is GenerationMode.TEXT
    assert request.mode is QualityMode.STD
    assert request.duration == 5
    assert request.aspect_ratio is AspectRatio.WIDE
    assert request.cfg_scale == 0.5
    assert request.takes == 1
    assert request.watermark is False
    assert request.negative_prompt is None
    assert request.multi_shot is False
    assert request.notes == ()
    assert request.model == "kling-v3"


def test_omitted_options_take_the_channel_defaults() -> None:
    defaults = ChannelDefaults(
        mode=QualityMode.PRO, duration=10, aspect_ratio=AspectRatio.TALL, negative_prompt="blurry"
    )

    request = validate_options(raw(), defaults)

    assert (request.mode, request.duration, request.aspect_ratio, request.negative_prompt) == (
        QualityMode.PRO,
        10,
        AspectRatio.TALL,
        "blurry",
    )


def test_given_options_win_over_channel_defaults() -> None:
    defaults = ChannelDefaults(
        mode=QualityMode.PRO, duration=10, aspect_ratio=AspectRatio.TALL, negative_prompt="blurry"
    )
    options = raw(mode="std", duration=7, aspect_ratio="1:1", negative_prompt="text, logos")

    request = validate_options(options, defaults)

    assert (request.mode, request.duration, request.aspect_ratio, request.negative_prompt) == (
        QualityMode.STD,
        7,
        AspectRatio.SQUARE,
        "text, logos",
    )


def test_every_option_is_carried_into_the_request() -> None:
    options = raw(
        "  A fox  ",
        model="kling-v3",
        cfg_scale=0.8,
        watermark=True,
        takes=3,
        duration=15,
        mode="pro",
        sound=True,
        negative_prompt=" blurry ",
        aspect_ratio="9:16",
    )

    request = validate_options(options, NO_DEFAULTS)

    assert request.prompt == "A fox"
    assert (request.cfg_scale, request.watermark, request.takes, request.duration, request.mode) == (
        0.8,
        True,
        3,
        15,
        QualityMode.PRO,
    )
    assert (request.sound, request.negative_prompt, request.aspect_ratio) == (True, "blurry", AspectRatio.TALL)
    assert request.model == "kling-v3"


def test_whitespace_negative_prompt_falls_back_to_the_channel_default() -> None:
    request = validate_options(raw(negative_prompt="   "), ChannelDefaults(negative_prompt="blurry"))

    assert request.negative_prompt == "blurry"


@pytest.mark.parametrize("value", [3, 15])
def test_duration_limits_are_inclusive(value: int) -> None:
    assert validate_options(raw(duration=value), NO_DEFAULTS).duration == value


@pytest.mark.parametrize("value", [0, 1, 0.0])
def test_cfg_scale_limits_are_inclusive(value: float) -> None:
    assert validate_options(raw(cfg_scale=value), NO_DEFAULTS).cfg_scale == value


def test_first_frame_means_image_mode() -> None:
    request = validate_options(raw(first_frame=att("first_frame")), NO_DEFAULTS)

    assert request.generation_mode is GenerationMode.IMAGE


def test_first_and_last_frame_make_an_image_request() -> None:
    request = validate_options(
        raw(generation_mode="image", first_frame=att("first_frame"), last_frame=att("last_frame")), NO_DEFAULTS
    )

    assert request.generation_mode is GenerationMode.IMAGE


def test_image_mode_has_no_aspect_ratio_and_says_nothing_when_none_was_given() -> None:
    request = validate_options(raw(first_frame=att("first_frame")), ChannelDefaults(aspect_ratio=AspectRatio.TALL))

    assert request.aspect_ratio is None
    assert request.notes == ()


def test_image_mode_notes_that_a_given_aspect_ratio_is_ignored() -> None:
    request = validate_options(raw(aspect_ratio="9:16", first_frame=att("first_frame")), NO_DEFAULTS)

    assert request.aspect_ratio is None
    assert request.notes == (IMAGE_MODE_ASPECT_NOTE,)
    assert "`aspect_ratio` is ignored in image mode" in request.notes[0]


def test_references_mean_reference_mode() -> None:
    options = raw("<<<image_1>>> meets <<<image_2>>> on a beach", references=refs(1, 2))

    request = validate_options(options, NO_DEFAULTS)

    assert request.generation_mode is GenerationMode.REFERENCE
    assert request.aspect_ratio is AspectRatio.WIDE


def test_explicit_text_mode_without_attachments_is_text() -> None:
    assert validate_options(raw(generation_mode="text"), NO_DEFAULTS).generation_mode is GenerationMode.TEXT


def test_explicit_reference_mode_with_references_is_reference() -> None:
    options = raw("<<<image_1>>> waves", generation_mode="reference", references=refs(1))

    assert validate_options(options, NO_DEFAULTS).generation_mode is GenerationMode.REFERENCE


def test_multi_shot_text_request_has_no_shots_yet_and_keeps_the_given_total() -> None:
    request = validate_options(raw(multi_shot=True, duration=12), NO_DEFAULTS)

    assert request.multi_shot is True
    assert request.shots == ()
    assert request.duration == 12


def test_multi_shot_accepts_a_first_frame() -> None:
    request = validate_options(raw(multi_shot=True, first_frame=att("first_frame")), NO_DEFAULTS)

    assert (request.multi_shot, request.generation_mode) == (True, GenerationMode.IMAGE)


def test_attachment_of_exactly_10_mb_is_accepted() -> None:
    request = validate_options(raw(first_frame=att("first_frame", size=10 * MB)), NO_DEFAULTS)

    assert request.generation_mode is GenerationMode.IMAGE


def test_declared_image_content_type_with_parameters_is_accepted() -> None:
    options = raw(first_frame=att("first_frame", content_type="image/webp; charset=binary"))

    # The bytes decide the exact type later; any declared image/* passes here.
    assert validate_options(options, NO_DEFAULTS).generation_mode is GenerationMode.IMAGE


def test_attachments_are_listed_in_a_stable_order() -> None:
    options = raw(references=refs(2, 1), last_frame=att("last_frame"), first_frame=att("first_frame"))

    assert [ref.option for ref in attachments_of(options)] == [
        "first_frame",
        "last_frame",
        "reference_1",
        "reference_2",
    ]


def test_attachments_of_a_text_request_is_empty() -> None:
    assert attachments_of(raw()) == []


# --- one rule per case: a single broken option ---------------------------------------------------------------

SIMPLE_RULES = [
    pytest.param(raw(""), "prompt", ["`prompt`", "empty"], id="prompt-empty"),
    pytest.param(raw(" \n\t "), "prompt", ["`prompt`", "empty"], id="prompt-whitespace-only"),
    pytest.param(raw("x" * 2501), "prompt", ["`prompt`", "2501", "2500"], id="prompt-too-long"),
    pytest.param(
        raw(negative_prompt="n" * 2501), "negative_prompt", ["`negative_prompt`", "2501", "2500"], id="negative-long"
    ),
    pytest.param(raw(duration=2), "duration", ["`duration`", "3–15 s", "Kling 3.0", "you gave 2"], id="duration-short"),
    pytest.param(
        raw(duration=20), "duration", ["`duration`", "3–15 s", "Kling 3.0", "you gave 20"], id="duration-long"
    ),
    pytest.param(raw(duration=5.5), "duration", ["`duration`", "whole number"], id="duration-not-integer"),
    pytest.param(raw(cfg_scale=1.5), "cfg_scale", ["`cfg_scale`", "between 0 and 1", "1.5"], id="cfg-high"),
    pytest.param(raw(cfg_scale=-0.1), "cfg_scale", ["`cfg_scale`", "between 0 and 1", "-0.1"], id="cfg-negative"),
    pytest.param(raw(cfg_scale=float("nan")), "cfg_scale", ["`cfg_scale`", "between 0 and 1"], id="cfg-nan"),
    pytest.param(raw(mode="ultra"), "mode", ["`mode`", "`std`", "`pro`", "ultra"], id="mode-unknown"),
    pytest.param(
        raw(aspect_ratio="2:1"), "aspect_ratio", ["`aspect_ratio`", "`16:9`", "`21:9`", "2:1"], id="ratio-unknown"
    ),
    pytest.param(
        raw(aspect_ratio="4:3"), "aspect_ratio", ["`aspect_ratio` `4:3`", "Kling 3.0", "`16:9`"], id="ratio-not-kling"
    ),
    pytest.param(raw(takes=0), "takes", ["`takes`", "between 1 and 4", "you gave 0"], id="takes-zero"),
    pytest.param(raw(takes=5), "takes", ["`takes`", "between 1 and 4", "you gave 5"], id="takes-five"),
    pytest.param(
        raw(generation_mode="video"), "generation_mode", ["`generation_mode`", "`text`", "video"], id="mode-unknown"
    ),
]


@pytest.mark.parametrize(("options", "option", "words"), SIMPLE_RULES)
def test_broken_option_is_refused_naming_it(options: RawOptions, option: str, words: list[str]) -> None:
    error = refused(options)

    assert error.option == option
    for word in words:
        assert word in error.message


# --- attachments as declared by Discord ----------------------------------------------------------------------


def test_attachment_over_10_mb_is_refused_before_download() -> None:
    error = refused(raw(first_frame=att("first_frame", size=10 * MB + 1)))

    assert error.option == "first_frame"
    assert "10 MB" in error.message
    assert "10.1 MB" in error.message  # the measured size, rounded up so it never reads as the limit


def test_large_reference_is_refused_naming_its_option() -> None:
    error = refused(raw("<<<image_1>>> <<<image_2>>>", references=(att("r1"), att("r2", size=25 * MB), None, None)))

    assert error.option == "reference_2"
    assert "`reference_2`" in error.message


def test_declared_video_is_refused_as_not_an_image() -> None:
    error = refused(raw(first_frame=att("first_frame", content_type="video/mp4")))

    assert error.option == "first_frame"
    assert "not an image" in error.message
    assert "PNG or JPEG" in error.message


def test_missing_content_type_is_left_to_the_bytes() -> None:
    request = validate_options(raw(first_frame=att("first_frame", content_type=None)), NO_DEFAULTS)

    assert request.generation_mode is GenerationMode.IMAGE


# --- one mode at a time --------------------------------------------------------------------------------------


def test_frames_and_references_together_are_refused() -> None:
    error = refused(raw("<<<image_1>>>", first_frame=att("first_frame"), references=refs(1)))

    assert error.option == "reference_1"
    assert "one mode at a time" in error.message
    assert "`first_frame`" in error.message


def test_text_mode_with_an_attachment_is_refused() -> None:
    error = refused(raw(generation_mode="text", first_frame=att("first_frame")))

    assert error.option == "generation_mode"
    assert "one mode at a time" in error.message
    assert "`first_frame`" in error.message


def test_image_mode_without_a_first_frame_is_refused() -> None:
    error = refused(raw(generation_mode="image"))

    assert error.option == "first_frame"
    assert "no `first_frame`" in error.message


def test_image_mode_with_references_is_refused() -> None:
    error = refused(raw("<<<image_1>>>", generation_mode="image", references=refs(1)))

    assert error.option == "generation_mode"
    assert "one mode at a time" in error.message


def test_reference_mode_without_references_is_refused() -> None:
    error = refused(raw(generation_mode="reference"))

    assert error.option == "reference_1"
    assert "no reference image" in error.message


def test_reference_mode_with_a_frame_is_refused() -> None:
    error = refused(raw(generation_mode="reference", first_frame=att("first_frame")))

    assert error.option == "generation_mode"
    assert "one mode at a time" in error.message


def test_last_frame_without_first_frame_is_refused() -> None:
    error = refused(raw(last_frame=att("last_frame")))

    assert error.option == "last_frame"
    assert "needs a `first_frame`" in error.message


# --- multi-shot ----------------------------------------------------------------------------------------------


def test_multi_shot_with_last_frame_is_refused() -> None:
    error = refused(raw(multi_shot=True, first_frame=att("first_frame"), last_frame=att("last_frame")))

    assert error.option == "last_frame"
    assert "`multi_shot`" in error.message
    assert "no end frame" in error.message


def test_multi_shot_with_references_is_refused() -> None:
    error = refused(raw("<<<image_1>>>", multi_shot=True, references=refs(1)))

    assert error.option == "multi_shot"
    assert "not with references" in error.message


# --- reference mentions --------------------------------------------------------------------------------------


def test_reference_not_mentioned_in_the_prompt_is_refused() -> None:
    error = refused(raw("<<<image_1>>> on a beach", references=refs(1, 2)))

    assert error.option == "reference_2"
    assert "never mentions it" in error.message
    assert "`<<<image_2>>>`" in error.message


def test_prompt_mentioning_an_image_that_was_not_given_is_refused() -> None:
    error = refused(raw("<<<image_1>>> and <<<image_3>>>", references=refs(1)))

    assert error.option == "prompt"
    assert "`<<<image_3>>>`" in error.message
    assert "no `reference_3`" in error.message


def test_text_prompt_mentioning_an_image_is_refused() -> None:
    error = refused(raw("A fox like <<<image_1>>>"))

    assert error.option == "prompt"
    assert "`<<<image_1>>>`" in error.message


def test_references_with_a_gap_are_refused() -> None:
    error = refused(raw("<<<image_1>>> <<<image_3>>>", references=refs(1, 3)))

    assert error.option == "reference_3"
    assert "`reference_2` is not" in error.message
    assert "in order" in error.message


def test_all_four_references_mentioned_are_accepted() -> None:
    options = raw(" ".join(f"<<<image_{n}>>>" for n in (4, 2, 1, 3, 1)), references=refs(1, 2, 3, 4))

    assert validate_options(options, NO_DEFAULTS).generation_mode is GenerationMode.REFERENCE
