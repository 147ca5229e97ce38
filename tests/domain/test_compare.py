"""`/video compare`: each model checked against its own entry before anything is reserved; one that can't take
the request refuses the whole compare, naming it."""

from __future__ import annotations

import pytest

from bot.domain.compare import member_costs, shared_notes, validate_compare
from bot.domain.errors import RequestValidationError
from bot.domain.models import load_model_table
from bot.domain.request import AttachmentRef, ChannelDefaults, GenerationMode, QualityMode, RawOptions
from bot.domain.validation import ModelChoice

TABLE = load_model_table()
CHOICE = ModelChoice(TABLE, "kling-v3")
NO_DEFAULTS = ChannelDefaults()


def raw(**options: object) -> RawOptions:
    return RawOptions(prompt="a lighthouse in a storm", **options)  # type: ignore[arg-type]


def refused(options: RawOptions, picked: list[tuple[str, str]], choice: ModelChoice = CHOICE) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        validate_compare(options, picked, NO_DEFAULTS, choice)
    return caught.value


def test_each_model_gets_one_request_of_one_take_with_the_shared_options() -> None:
    requests = validate_compare(
        raw(mode="pro", duration=8, aspect_ratio="16:9", takes=3),
        [("model_a", "kling-v3"), ("model_b", "veo-3.1")],
        NO_DEFAULTS,
        CHOICE,
    )

    assert [r.model for r in requests] == ["kling-v3", "veo-3.1"]
    assert all(r.takes == 1 and r.duration == 8 and r.mode is QualityMode.PRO for r in requests)
    assert {r.prompt for r in requests} == {"a lighthouse in a storm"}


def test_an_option_one_model_cannot_take_refuses_the_compare_naming_that_model() -> None:
    error = refused(raw(duration=10), [("model_a", "kling-v3"), ("model_b", "veo-3.1")])

    assert error.option == "model_b"
    assert error.message.startswith("`model_b` (Veo 3.1")
    assert "duration" in error.message


def test_a_model_picked_twice_is_said_before_any_model_is_asked() -> None:
    # Nothing else would make the compare work, so that is what the member hears first.
    error = refused(raw(duration=10), [("model_a", "veo-3.1"), ("model_b", "kling-v3"), ("model_c", "veo-3.1")])

    assert error.option == "model_c"
    assert "both `veo-3.1`" in error.message


def test_a_model_picked_twice_is_refused() -> None:
    error = refused(raw(), [("model_a", "kling-v3"), ("model_b", "kling-v3")])

    assert error.option == "model_b"
    assert "`model_a` and `model_b` are both `kling-v3`" in error.message


def test_a_model_turned_off_here_refuses_the_compare() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {"veo-3.1": "it is turned off in this server"})

    error = refused(raw(), [("model_a", "kling-v3"), ("model_b", "veo-3.1")], choice)

    assert error.option == "model_b" and "turned off" in error.message


def test_what_the_member_left_out_follows_each_models_own_default() -> None:
    requests = validate_compare(raw(), [("model_a", "kling-v3"), ("model_b", "veo-3.1")], NO_DEFAULTS, CHOICE)

    for request in requests:
        spec = TABLE.get(request.model)
        mode = spec.mode(GenerationMode.TEXT) if spec is not None else None
        assert mode is not None and mode.durations.allows(request.duration)
    assert requests[0].duration != requests[1].duration  # Kling's default length is not one Veo makes


def test_image_mode_is_checked_per_model_with_the_first_frame() -> None:
    frame = AttachmentRef("first_frame", "f.png", "https://cdn.test/f.png", 200_000, "image/png")

    requests = validate_compare(
        raw(first_frame=frame), [("model_a", "kling-v3"), ("model_b", "veo-3.1")], NO_DEFAULTS, CHOICE
    )

    assert [r.generation_mode for r in requests] == [GenerationMode.IMAGE, GenerationMode.IMAGE]
    assert all(r.aspect_ratio is None for r in requests)


def test_each_model_costs_its_own_rates_and_notes_are_said_once() -> None:
    frame = AttachmentRef("first_frame", "f.png", "https://cdn.test/f.png", 200_000, "image/png")
    requests = validate_compare(
        raw(first_frame=frame, aspect_ratio="16:9", duration=8),
        [("model_a", "kling-v3"), ("model_b", "veo-3.1")],
        NO_DEFAULTS,
        CHOICE,
    )

    costs = member_costs(requests, TABLE)

    kling, veo = TABLE.get("kling-v3"), TABLE.get("veo-3.1")
    assert kling is not None and veo is not None
    assert costs == [8 * kling.cost.per_second(QualityMode.STD, bool(requests[0].sound)), costs[1]]
    assert costs[1] == 8 * veo.cost.per_second(QualityMode.STD, bool(requests[1].sound))
    assert len(shared_notes(requests)) == 1  # "aspect ratio ignored in image mode", said once
