"""`validate_options` per model: every rule comes from the model's entry, and a refusal names the option, the
model and the models that take it."""

from __future__ import annotations

import itertools
import tomllib
from typing import Any

import pytest

from bot.domain.errors import RequestValidationError
from bot.domain.models import SHIPPED_MODELS, ModelTable, load_model_table, parse_model_table
from bot.domain.request import (
    AspectRatio,
    AttachmentRef,
    ChannelDefaults,
    GenerationMode,
    QualityMode,
    RawOptions,
    VideoRequest,
)
from bot.domain.validation import MAX_SEED, ModelChoice, revalidate_prompt, validate_options, with_take_seeds

TABLE = load_model_table()
CHOICE = ModelChoice(TABLE, "kling-v3")
NO_DEFAULTS = ChannelDefaults()


def att(option: str) -> AttachmentRef:
    return AttachmentRef(option, f"{option}.png", f"https://cdn.test/{option}.png", 200_000, "image/png")


def refs(count: int) -> tuple[AttachmentRef | None, ...]:
    return tuple(att(f"reference_{n}") if n <= count else None for n in range(1, 5))


def mentions(count: int) -> str:
    return " and ".join(f"<<<image_{n}>>>" for n in range(1, count + 1)) + " on a beach"


def raw(prompt: str = "A red fox runs through snow", **options: Any) -> RawOptions:
    return RawOptions(prompt=prompt, **options)


def accepted(
    options: RawOptions, defaults: ChannelDefaults = NO_DEFAULTS, choice: ModelChoice = CHOICE
) -> VideoRequest:
    return validate_options(options, defaults, choice)


def refused(
    options: RawOptions, defaults: ChannelDefaults = NO_DEFAULTS, choice: ModelChoice = CHOICE
) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        validate_options(options, defaults, choice)
    return caught.value


def codes(*keys: str) -> str:
    return ", ".join(f"`{key}`" for key in keys)


def table_with(change: Any) -> ModelTable:
    with SHIPPED_MODELS.open("rb") as handle:
        data = tomllib.load(handle)
    change(data)
    return parse_model_table(data)


# --- an option the model does not take ---------------------------------------------------------------------

UNSUPPORTED = [
    pytest.param(
        raw(model="kling-v3", seed=42),
        "seed",
        "Kling 3.0 (`kling-v3`) doesn't take `seed`.",
        codes("seedance-2.0", "veo-3.1", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3"),
        id="seed-on-kling",
    ),
    pytest.param(
        raw(model="wan-2.6", cfg_scale=0.7),
        "cfg_scale",
        "Wan 2.6 (`wan-2.6`) doesn't take `cfg_scale`.",
        codes("kling-v3"),
        id="cfg-on-wan-2.6",
    ),
    pytest.param(
        raw(model="happyhorse-1.0", negative_prompt="blurry"),
        "negative_prompt",
        "HappyHorse 1.0 (`happyhorse-1.0`) doesn't take `negative_prompt`.",
        codes("kling-v3", "veo-3.1", "wan-2.6", "wan-2.7"),
        id="negative-prompt-on-happyhorse",
    ),
    pytest.param(
        raw(model="veo-3.1", watermark=True),
        "watermark",
        "Veo 3.1 (`veo-3.1`) doesn't take `watermark`.",
        codes("kling-v3", "seedance-2.0", "wan-2.6", "wan-2.7", "happyhorse-1.0"),
        id="watermark-on-veo",
    ),
    pytest.param(
        raw(model="wan-2.7", sound=True),
        "sound",
        "Wan 2.7 (`wan-2.7`) doesn't take `sound`.",
        codes("kling-v3", "seedance-2.0", "veo-3.1", "wan-2.6", "vidu-q3"),
        id="sound-on-wan-2.7",
    ),
    pytest.param(
        raw(model="seedance-2.0", multi_shot=True),
        "multi_shot",
        "Seedance 2.0 (`seedance-2.0`) doesn't take `multi_shot`.",
        codes("kling-v3"),
        id="multi-shot-on-seedance",
    ),
]


@pytest.mark.parametrize(("options", "option", "opening", "others"), UNSUPPORTED)
def test_unsupported_option_names_option_model_and_the_models_that_take_it(
    options: RawOptions, option: str, opening: str, others: str
) -> None:
    error = refused(options)

    assert error.option == option
    assert error.message == (
        f"{opening} Models that take it: {others}; pick one with `model`, or leave `{option}` out."
    )


def test_models_off_here_are_not_offered_as_alternatives() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {"veo-3.1": "it is turned off in this server", "wan-2.6": "held"})

    error = refused(raw(model="happyhorse-1.0", negative_prompt="blurry"), choice=choice)

    assert f"Models that take it: {codes('kling-v3', 'wan-2.7')};" in error.message


def test_when_no_model_here_takes_it_the_reply_says_so() -> None:
    choice = ModelChoice(TABLE, "wan-2.6", {"kling-v3": "turned off"})

    error = refused(raw(model="wan-2.6", cfg_scale=0.7), choice=choice)

    assert (
        error.message
        == "Wan 2.6 (`wan-2.6`) doesn't take `cfg_scale`. No model here takes it, or leave `cfg_scale` out."
    )


def test_watermark_off_is_honoured_by_a_model_without_a_switch() -> None:
    assert accepted(raw(model="veo-3.1", watermark=False)).watermark is False


def test_sound_off_is_honoured_by_a_silent_model() -> None:
    assert accepted(raw(model="happyhorse-1.0", sound=False)).sound is False


def test_sound_off_on_a_model_that_always_makes_sound_is_refused() -> None:
    error = refused(raw(model="wan-2.6", sound=False))

    assert error.option == "sound"
    assert "Wan 2.6 (`wan-2.6`) always makes sound in this mode" in error.message
    assert "`sound: False` can't be honoured" in error.message
    assert (
        f"Silent clips: {codes('kling-v3', 'seedance-2.0', 'veo-3.1', 'wan-2.7', 'happyhorse-1.0', 'vidu-q3')}"
        in error.message
    )


def test_sound_in_wan_2_6_depends_on_the_mode() -> None:
    assert accepted(raw(model="wan-2.6")).sound is True
    assert accepted(raw(model="wan-2.6", sound=True)).sound is True
    assert accepted(raw(model="wan-2.6", sound=False, first_frame=att("first_frame"))).sound is False


def test_last_frame_on_a_model_without_one_names_the_models_with_an_end_frame() -> None:
    error = refused(raw(model="wan-2.6", first_frame=att("first_frame"), last_frame=att("last_frame")))

    assert error.option == "last_frame"
    assert error.message.startswith("Wan 2.6 (`wan-2.6`) takes no `last_frame`.")
    assert f"Models that take an end frame: {codes('kling-v3', 'seedance-2.0', 'wan-2.7', 'vidu-q3')}" in error.message


def test_reference_mode_on_a_model_without_it_names_the_models_with_it() -> None:
    error = refused(raw(mentions(1), model="veo-3.1", references=refs(1)))

    assert error.option == "reference_1"
    assert "Veo 3.1 (`veo-3.1`) has no reference mode (it has `text`, `image`)." in error.message
    others = codes("kling-v3", "seedance-2.0", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3")
    assert f"Models with reference mode: {others}." in error.message


def test_a_missing_text_mode_is_named_with_the_models_that_have_one() -> None:
    # Vidu Q3 ships without a text mode: no ModelStream page documents a Q3 text-to-video id.
    error = refused(raw(model="vidu-q3"))

    assert error.option == "generation_mode"
    assert error.message == (
        "Vidu Q3 (`vidu-q3`) has no text mode (it has `image`, `reference`). Models with text mode: "
        + codes("kling-v3", "seedance-2.0", "veo-3.1", "wan-2.6", "wan-2.7", "happyhorse-1.0")
        + "."
    )


def test_a_text_mode_an_operator_adds_is_used() -> None:
    table = table_with(lambda data: data["models"]["vidu-q3"]["ids"].__setitem__("text", "viduq3-turbo"))

    request = accepted(raw(model="vidu-q3", duration=16), choice=ModelChoice(table, "kling-v3"))

    assert (request.model, request.generation_mode, request.duration) == ("vidu-q3", GenerationMode.TEXT, 16)


def test_more_references_than_the_model_takes_names_the_first_extra_and_the_models_that_take_them() -> None:
    # Every shipped model takes the four references /video generate offers: a smaller entry shows the rule.
    table = table_with(lambda data: data["models"]["wan-2.6"].__setitem__("references", 2))

    error = refused(raw(mentions(3), model="wan-2.6", references=refs(3)), choice=ModelChoice(table, "kling-v3"))

    assert error.option == "reference_3"
    assert "Wan 2.6 (`wan-2.6`) takes at most 2 reference image(s); you attached 3." in error.message
    assert f"Models that take 3: {codes('kling-v3', 'seedance-2.0', 'wan-2.7', 'happyhorse-1.0', 'vidu-q3')}." in (
        error.message
    )


@pytest.mark.parametrize("key", ["kling-v3", "seedance-2.0", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3"])
def test_every_model_with_references_takes_all_four(key: str) -> None:
    request = accepted(raw(mentions(4), model=key, references=refs(4)))

    assert (request.model, request.generation_mode) == (key, GenerationMode.REFERENCE)


# --- durations ---------------------------------------------------------------------------------------------


def test_veo_takes_4_6_or_8_seconds_and_defaults_to_8() -> None:
    assert accepted(raw(model="veo-3.1")).duration == 8
    assert [accepted(raw(model="veo-3.1", duration=s)).duration for s in (4, 6, 8)] == [4, 6, 8]

    error = refused(raw(model="veo-3.1", duration=5))

    assert error.option == "duration"
    assert error.message.startswith("`duration` must be 4, 6 or 8 s for Veo 3.1 (`veo-3.1`); you gave 5 s.")


def test_wan_2_6_reference_mode_stops_at_10_seconds() -> None:
    assert accepted(raw(model="wan-2.6", duration=15)).duration == 15
    assert accepted(raw(mentions(1), model="wan-2.6", duration=10, references=refs(1))).duration == 10
    assert accepted(raw(mentions(1), model="wan-2.6", duration=2, references=refs(1))).duration == 2

    error = refused(raw(mentions(1), model="wan-2.6", duration=12, references=refs(1)))

    assert error.option == "duration"
    assert "2–10 s for Wan 2.6 (`wan-2.6`); you gave 12 s" in error.message


def test_vidu_takes_1_to_16_seconds_from_a_frame_and_3_to_16_from_references() -> None:
    frame = att("first_frame")
    assert [accepted(raw(model="vidu-q3", duration=s, first_frame=frame)).duration for s in (1, 16)] == [1, 16]
    with_refs = [accepted(raw(mentions(1), model="vidu-q3", duration=s, references=refs(1))) for s in (3, 16)]
    assert [request.duration for request in with_refs] == [3, 16]

    error = refused(raw(mentions(1), model="vidu-q3", duration=2, references=refs(1)))

    assert error.option == "duration"
    assert "3–16 s for Vidu Q3 (`vidu-q3`)" in error.message


@pytest.mark.parametrize(
    ("key", "short", "long"),
    [("kling-v3", 2, 16), ("seedance-2.0", 3, 16), ("wan-2.7", 1, 16), ("happyhorse-1.0", 2, 16)],
)
def test_each_models_duration_range_is_inclusive(key: str, short: int, long: int) -> None:
    for seconds in (short + 1, long - 1):
        assert accepted(raw(model=key, duration=seconds)).duration == seconds
    for seconds in (short, long):
        assert refused(raw(model=key, duration=seconds)).option == "duration"


# --- aspect ratios -----------------------------------------------------------------------------------------


def test_21_9_on_kling_lists_the_models_that_take_it() -> None:
    error = refused(raw(model="kling-v3", aspect_ratio="21:9"))

    assert error.option == "aspect_ratio"
    assert error.message == (
        "Kling 3.0 (`kling-v3`) doesn't take `aspect_ratio` `21:9`; it takes `16:9`, `9:16`, `1:1`. "
        "Models that take `21:9`: `seedance-2.0`."
    )


def test_21_9_in_reference_mode_also_names_happyhorse() -> None:
    error = refused(raw(mentions(1), model="kling-v3", aspect_ratio="21:9", references=refs(1)))

    assert f"Models that take `21:9`: {codes('seedance-2.0', 'happyhorse-1.0')}." in error.message


@pytest.mark.parametrize(
    ("key", "ratio", "mode_refs"),
    [
        ("seedance-2.0", "21:9", 0),
        ("wan-2.6", "4:3", 0),
        ("wan-2.7", "3:4", 0),
        ("vidu-q3", "1:1", 1),
        ("happyhorse-1.0", "21:9", 1),
        ("wan-2.6", "4:3", 1),
    ],
)
def test_a_ratio_the_model_takes_is_kept(key: str, ratio: str, mode_refs: int) -> None:
    prompt = mentions(mode_refs) if mode_refs else "A red fox"

    assert accepted(raw(prompt, model=key, aspect_ratio=ratio, references=refs(mode_refs))).aspect_ratio == (
        AspectRatio(ratio)
    )


@pytest.mark.parametrize(
    ("key", "ratio", "mode_refs"), [("veo-3.1", "1:1", 0), ("happyhorse-1.0", "21:9", 0), ("vidu-q3", "4:3", 1)]
)
def test_a_ratio_the_model_does_not_take_is_refused(key: str, ratio: str, mode_refs: int) -> None:
    prompt = mentions(mode_refs) if mode_refs else "A red fox"

    error = refused(raw(prompt, model=key, aspect_ratio=ratio, references=refs(mode_refs)))

    assert error.option == "aspect_ratio"
    assert f"(`{key}`) doesn't take `aspect_ratio` `{ratio}`" in error.message


# --- prompt length per mode ----------------------------------------------------------------------------------


def test_vidu_reference_prompts_stop_at_2000_characters() -> None:
    long_prompt = mentions(1) + " " + "x" * (2001 - len(mentions(1)) - 1)
    assert len(long_prompt) == 2001

    from_frame = raw(long_prompt.replace("<<<image_1>>>", "a fox"), model="vidu-q3", first_frame=att("first_frame"))
    assert accepted(from_frame).model == "vidu-q3"
    error = refused(raw(long_prompt, model="vidu-q3", references=refs(1)))

    assert error.option == "prompt"
    assert "`prompt` is 2001 characters long; Vidu Q3 (`vidu-q3`) takes at most 2000." in error.message
    assert "Shorten it by 1 characters." in error.message


def test_a_negative_prompt_over_the_models_limit_is_refused() -> None:
    assert accepted(raw(model="wan-2.6", negative_prompt="n" * 500)).negative_prompt == "n" * 500

    error = refused(raw(model="wan-2.6", negative_prompt="n" * 501))

    assert error.option == "negative_prompt"
    assert "`negative_prompt` is 501 characters long; Wan 2.6 (`wan-2.6`) takes at most 500." in error.message


# --- channel defaults the model can't use -------------------------------------------------------------------


def test_channel_duration_that_does_not_fit_falls_back_to_the_model_default_with_a_note() -> None:
    request = accepted(raw(model="veo-3.1"), ChannelDefaults(duration=10))

    assert request.duration == 8
    assert request.notes == (
        "The channel's default length (10 s) doesn't fit Veo 3.1 (`veo-3.1`) (4, 6 or 8 s); it renders 8 s.",
    )


def test_channel_duration_that_fits_is_used_silently() -> None:
    request = accepted(raw(model="veo-3.1"), ChannelDefaults(duration=6))

    assert (request.duration, request.notes) == (6, ())


def test_channel_negative_prompt_is_dropped_with_a_note_on_a_model_without_one() -> None:
    request = accepted(raw(model="happyhorse-1.0"), ChannelDefaults(negative_prompt="blurry"))

    assert request.negative_prompt is None
    assert request.notes == (
        "The channel's default negative prompt is not used: HappyHorse 1.0 (`happyhorse-1.0`) can't take it.",
    )


def test_channel_negative_prompt_too_long_for_the_model_is_dropped_with_a_note() -> None:
    request = accepted(raw(model="wan-2.6"), ChannelDefaults(negative_prompt="n" * 600))

    assert request.negative_prompt is None
    assert "Wan 2.6 (`wan-2.6`) can't take it" in request.notes[0]


def test_channel_shape_that_does_not_fit_falls_back_with_a_note() -> None:
    request = accepted(raw(model="kling-v3"), ChannelDefaults(aspect_ratio=AspectRatio.CINEMA))

    assert request.aspect_ratio is AspectRatio.WIDE
    assert request.notes == ("The channel's default shape (21:9) doesn't fit this model; it renders 16:9.",)


def test_channel_sound_is_used_by_a_model_with_a_switch() -> None:
    assert accepted(raw(model="seedance-2.0"), ChannelDefaults(sound=False)).sound is False
    assert accepted(raw(model="kling-v3"), ChannelDefaults(sound=True)).sound is True
    assert accepted(raw(model="kling-v3", sound=False), ChannelDefaults(sound=True)).sound is False


def test_channel_sound_a_model_cannot_honour_is_noted() -> None:
    silent = accepted(raw(model="wan-2.7"), ChannelDefaults(sound=True))
    loud = accepted(raw(model="wan-2.6"), ChannelDefaults(sound=False))

    assert silent.sound is False
    assert silent.notes == ("The channel's default sound is not used: Wan 2.7 (`wan-2.7`) makes silent clips.",)
    assert loud.sound is True
    assert loud.notes == ("The channel's default (no sound) is not used: Wan 2.6 (`wan-2.6`) always makes sound here.",)


@pytest.mark.parametrize(
    ("key", "sound"),
    [("kling-v3", False), ("seedance-2.0", True), ("veo-3.1", True), ("vidu-q3", True), ("happyhorse-1.0", False)],
)
def test_without_any_choice_sound_is_the_models_own_default(key: str, sound: bool) -> None:
    # Image mode: every one of these models has it (Vidu Q3 has no text mode).
    assert accepted(raw(model=key, first_frame=att("first_frame"))).sound is sound


# --- which model ---------------------------------------------------------------------------------------------


def test_the_member_wins_over_the_channel_and_the_channel_over_the_server() -> None:
    choice = ModelChoice(TABLE, "seedance-2.0")
    channel = ChannelDefaults(model="wan-2.6")

    assert accepted(raw(model="veo-3.1"), channel, choice).model == "veo-3.1"
    assert accepted(raw(), channel, choice).model == "wan-2.6"
    assert accepted(raw(), NO_DEFAULTS, choice).model == "seedance-2.0"


def test_a_channel_default_no_longer_in_the_table_falls_back_to_the_server_default() -> None:
    request = accepted(raw(), ChannelDefaults(model="sora"), ModelChoice(TABLE, "happyhorse-1.0"))

    assert request.model == "happyhorse-1.0"


def test_an_unknown_model_is_refused_with_the_usable_ones() -> None:
    error = refused(raw(model="sora"))

    assert error.option == "model"
    assert error.message == (
        "`model` `sora` is not a model this bot offers; pick one with `model`: "
        + codes("kling-v3", "seedance-2.0", "veo-3.1", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3")
        + "."
    )


def test_a_model_off_here_is_refused_with_the_reason_and_the_others() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {"veo-3.1": "it is turned off in this server"})

    error = refused(raw(model="veo-3.1"), choice=choice)

    assert error.option == "model"
    assert error.message == (
        "Veo 3.1 (`veo-3.1`) can't be used right now: it is turned off in this server. Pick one with `model`: "
        + codes("kling-v3", "seedance-2.0", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3")
        + "."
    )


def test_a_model_disabled_in_the_table_is_not_offered() -> None:
    table = table_with(lambda data: data["models"]["veo-3.1"].__setitem__("enabled", False))
    choice = ModelChoice(table, "kling-v3")

    error = refused(raw(model="veo-3.1"), choice=choice)

    assert error.option == "model"
    assert "`model` `veo-3.1` is not a model this bot offers" in error.message
    assert "`veo-3.1`" not in error.message.split("pick one", 1)[1]
    assert "`veo-3.1`" not in refused(raw(model="happyhorse-1.0", negative_prompt="x"), choice=choice).message


def test_an_unusable_default_is_named() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {"kling-v3": "the gateway has no channel for it"})

    error = refused(raw(), choice=choice)

    assert error.option == "model"
    assert error.message.startswith(
        "The default model here, Kling 3.0 (`kling-v3`), can't be used right now: the gateway has no channel for it."
    )
    assert accepted(raw(model="wan-2.6"), choice=choice).model == "wan-2.6"


def test_with_nothing_usable_the_member_is_told_to_ask_a_moderator() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {spec.key: "off" for spec in TABLE})

    error = refused(raw(model="wan-2.6"), choice=choice)

    assert "no model is available in this server right now; ask a moderator" in error.message


def test_a_model_with_only_pro_picks_it_and_refuses_std() -> None:
    def pro_only(data: dict[str, Any]) -> None:
        entry = data["models"]["wan-2.7"]
        entry["resolutions"] = {"pro": "1080P"}
        entry["values"]["mode"] = {"pro": "1080P"}

    choice = ModelChoice(table_with(pro_only), "kling-v3")

    request = accepted(raw(model="wan-2.7"), choice=choice)
    assert (request.mode, request.notes) == (QualityMode.PRO, ())
    error = refused(raw(model="wan-2.7", mode="std"), choice=choice)
    assert error.option == "mode"
    assert error.message == "Wan 2.7 (`wan-2.7`) takes `mode` `pro` (1080P); you gave `std`."


def std_only(data: dict[str, Any]) -> None:
    entry = data["models"]["wan-2.7"]
    entry["resolutions"] = {"std": "720P"}
    entry["values"]["mode"] = {"std": "720P"}


def test_channel_quality_the_model_does_not_have_falls_back_with_a_note() -> None:
    choice = ModelChoice(table_with(std_only), "kling-v3")

    request = accepted(raw(model="wan-2.7"), ChannelDefaults(mode=QualityMode.PRO), choice)

    assert request.mode is QualityMode.STD
    assert request.notes == (
        "The channel's default quality (`pro`) doesn't fit Wan 2.7 (`wan-2.7`); it renders `std`.",
    )


def test_channel_quality_the_model_has_is_used_silently() -> None:
    choice = ModelChoice(table_with(std_only), "kling-v3")

    on_std_only = accepted(raw(model="wan-2.7"), ChannelDefaults(mode=QualityMode.STD), choice)
    on_both = accepted(raw(model="wan-2.6"), ChannelDefaults(mode=QualityMode.PRO), choice)

    assert (on_std_only.mode, on_std_only.notes) == (QualityMode.STD, ())
    assert (on_both.mode, on_both.notes) == (QualityMode.PRO, ())


def test_a_members_quality_overrides_the_channel_without_a_note() -> None:
    choice = ModelChoice(table_with(std_only), "kling-v3")

    request = accepted(raw(model="wan-2.7", mode="std"), ChannelDefaults(mode=QualityMode.PRO), choice)

    assert (request.mode, request.notes) == (QualityMode.STD, ())


# --- seeds per take ------------------------------------------------------------------------------------------


def never() -> int:
    raise AssertionError("no seed should be drawn")


def test_a_members_seed_gives_one_seed_per_take_counting_up() -> None:
    spec = TABLE.get("wan-2.6")
    assert spec is not None
    request = accepted(raw(model="wan-2.6", seed=41, takes=3))

    assert request.seed == 41
    assert [take.seed for take in with_take_seeds(request, spec, never)] == [41, 42, 43]


def test_seeds_wrap_at_the_largest_seed() -> None:
    spec = TABLE.get("wan-2.6")
    assert spec is not None
    request = accepted(raw(model="wan-2.6", seed=MAX_SEED, takes=2))

    assert [take.seed for take in with_take_seeds(request, spec, never)] == [MAX_SEED, 0]


def test_without_a_seed_each_take_draws_its_own() -> None:
    spec = TABLE.get("seedance-2.0")
    assert spec is not None
    counter = itertools.count(100)
    request = accepted(raw(model="seedance-2.0", takes=3))

    assert request.seed is None
    assert [take.seed for take in with_take_seeds(request, spec, lambda: next(counter))] == [100, 101, 102]
    assert with_take_seeds(request, spec, lambda: MAX_SEED + 5)[0].seed == 4


def test_a_model_without_seeds_gets_none_for_every_take() -> None:
    spec = TABLE.get("kling-v3")
    assert spec is not None
    request = accepted(raw(model="kling-v3", takes=2))

    takes = with_take_seeds(request, spec, never)

    assert [take.seed for take in takes] == [None, None]
    assert [take.prompt for take in takes] == [request.prompt] * 2


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_a_seed_out_of_range_is_refused(seed: int) -> None:
    error = refused(raw(model="wan-2.6", seed=seed))

    assert error.option == "seed"
    assert f"from 0 to {MAX_SEED}" in error.message


def test_remix_checks_the_new_prompt_against_its_models_own_limit() -> None:
    vidu = load_model_table().get("vidu-q3")
    request = VideoRequest(
        prompt="a fox",
        generation_mode=GenerationMode.REFERENCE,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=AspectRatio.WIDE,
        model="vidu-q3",
    )

    with pytest.raises(RequestValidationError) as refused:
        revalidate_prompt(request, "x" * 2001, vidu)

    assert refused.value.option == "prompt"
    assert "Vidu Q3 (`vidu-q3`) takes at most 2000" in refused.value.message


def test_a_channel_default_model_turned_off_falls_back_to_the_server_default_with_a_note() -> None:
    choice = ModelChoice(load_model_table(), "wan-2.6", {"veo-3.1": "it is turned off in this server"})

    request = validate_options(RawOptions(prompt="a fox"), ChannelDefaults(model="veo-3.1"), choice)

    assert request.model == "wan-2.6"
    assert any("`veo-3.1` can't be used (it is turned off in this server): Wan 2.6" in note for note in request.notes)


def test_a_server_default_that_cannot_be_used_asks_the_member_to_pick() -> None:
    choice = ModelChoice(load_model_table(), "veo-3.1", {"veo-3.1": "it is turned off in this server"})

    with pytest.raises(RequestValidationError) as refused:
        validate_options(RawOptions(prompt="a fox"), ChannelDefaults(), choice)

    assert refused.value.option == "model"
    assert "The default model here, Veo 3.1 (`veo-3.1`), can't be used right now" in refused.value.message
