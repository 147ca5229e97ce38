"""The storyboard text: one shot per line, checked shot by shot, and written back out."""

from __future__ import annotations

import pytest

from bot.domain.errors import RequestValidationError
from bot.domain.models import Durations, load_model_table
from bot.domain.request import Shot
from bot.domain.storyboard import (
    STORYBOARD_PLACEHOLDER,
    describe_storyboard,
    format_storyboard,
    parse_storyboard,
)

# Kling 3.0's storyboard lengths, as its table entry gives them.
KLING = Durations(3, 15)


def parse(text: str, *, total: int | None = None) -> tuple[Shot, ...]:
    return parse_storyboard(text, total=total, has_last_frame=False, durations=KLING)


def refused(text: str, *, total: int | None = None, has_last_frame: bool = False) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        parse_storyboard(text, total=total, has_last_frame=has_last_frame, durations=KLING)
    return caught.value


def test_one_shot_per_line() -> None:
    shots = parse("3 | The hero opens the door\n2 | She steps into the light")

    assert shots == (Shot("The hero opens the door", 3), Shot("She steps into the light", 2))


@pytest.mark.parametrize(
    "line",
    [
        "3 | A door opens",
        "3s | A door opens",
        "3 s: A door opens",
        "3sec|A door opens",
        "  3 seconds :  A door opens  ",
    ],
)
def test_forgiving_line_forms(line: str) -> None:
    assert parse(line) == (Shot("A door opens", 3),)


def test_blank_lines_are_skipped() -> None:
    assert parse("\n3 | One\n\n   \n2 | Two\n") == (Shot("One", 3), Shot("Two", 2))


def test_only_the_first_separator_splits() -> None:
    assert parse("4 | Title card: the end | fin") == (Shot("Title card: the end | fin", 4),)


def test_total_matching_the_given_duration_is_accepted() -> None:
    assert sum(shot.duration for shot in parse("5 | One\n5 | Two", total=10)) == 10


def test_six_shots_are_allowed() -> None:
    assert len(parse("\n".join(f"2 | Shot {n}" for n in range(6)))) == 6


def test_fifteen_seconds_is_allowed() -> None:
    assert sum(shot.duration for shot in parse("10 | Long\n5 | Short")) == 15


def test_shot_prompt_of_512_characters_is_allowed() -> None:
    assert parse("3 | " + "p" * 512)[0].prompt == "p" * 512


def test_format_parses_back_to_the_same_shots() -> None:
    shots = (Shot("A door: it opens", 3), Shot("| odd prompt", 1), Shot("Close-up", 4))

    assert parse(format_storyboard(shots)) == shots


def test_describe_lists_shots_with_their_length_and_the_total() -> None:
    text = describe_storyboard((Shot("The hero opens the door", 3), Shot("She steps out", 2)))

    assert text == "1. (3 s) The hero opens the door\n2. (2 s) She steps out\nTotal: 5 s"


def test_placeholder_is_a_valid_storyboard_within_discords_limit() -> None:
    assert len(STORYBOARD_PLACEHOLDER) <= 100
    assert len(parse(STORYBOARD_PLACEHOLDER)) == 2


BROKEN = [
    pytest.param("", ["empty", "`<seconds> | <prompt>`"], id="empty"),
    pytest.param("  \n \n", ["empty"], id="blank-lines-only"),
    pytest.param("\n".join(f"2 | Shot {n}" for n in range(7)), ["7 shots", "limit is 6"], id="seven-shots"),
    pytest.param("3 | One\nthe hero walks", ["Shot 2:", "`<seconds> | <prompt>`"], id="no-seconds"),
    pytest.param("3 | One\n3-year-old runs", ["Shot 2:", "`<seconds> | <prompt>`"], id="dash-is-not-a-separator"),
    pytest.param("2.5 | One\n1 | Two", ["Shot 1:", "whole seconds", "2.5"], id="fractional-seconds"),
    pytest.param("3 | One\n0 | Two", ["Shot 2:", "at least 1 second", "you gave 0"], id="zero-seconds"),
    pytest.param("3 | One\n2 |   ", ["Shot 2:", "prompt is empty"], id="empty-prompt"),
    pytest.param("3 | " + "p" * 513, ["Shot 1:", "513 characters", "limit is 512"], id="prompt-too-long"),
    pytest.param("1 | One\n1 | Two", ["add up to 2 s", "must be 3–15 s"], id="total-too-short"),
    pytest.param("10 | One\n6 | Two", ["add up to 16 s", "must be 3–15 s"], id="total-too-long"),
]


@pytest.mark.parametrize(("text", "words"), BROKEN)
def test_broken_storyboard_names_what_to_change(text: str, words: list[str]) -> None:
    error = refused(text)

    assert error.option == "storyboard"
    for word in words:
        assert word in error.message


def test_shots_not_adding_up_to_the_given_duration_are_refused() -> None:
    error = refused("3 | One\n3 | Two", total=10)

    assert error.option == "storyboard"
    assert "add up to 6 s" in error.message
    assert "`duration` is 10 s" in error.message


def test_last_frame_is_refused_in_a_storyboard() -> None:
    error = refused("3 | One", has_last_frame=True)

    assert error.option == "last_frame"
    assert "`last_frame`" in error.message


def test_the_storyboard_lengths_here_are_klings_own() -> None:
    kling = load_model_table().get("kling-v3")
    assert kling is not None
    assert all(mode.durations == KLING for mode in kling.modes.values())


def test_the_models_durations_decide_the_total() -> None:
    shorter = Durations(2, 10)

    assert (
        sum(
            s.duration
            for s in parse_storyboard("1 | One\n1 | Two", total=None, has_last_frame=False, durations=shorter)
        )
        == 2
    )
    with pytest.raises(RequestValidationError) as caught:
        parse_storyboard("6 | One\n6 | Two", total=None, has_last_frame=False, durations=shorter)
    assert caught.value.option == "storyboard"
    assert "add up to 12 s" in caught.value.message
    assert "2–10 s" in caught.value.message


def test_a_set_of_lengths_is_named_in_the_refusal() -> None:
    allowed = Durations(4, 8, (4, 6, 8))

    assert len(parse_storyboard("3 | One\n3 | Two", total=None, has_last_frame=False, durations=allowed)) == 2
    with pytest.raises(RequestValidationError) as caught:
        parse_storyboard("3 | One\n2 | Two", total=None, has_last_frame=False, durations=allowed)
    assert "add up to 5 s" in caught.value.message
    assert "4, 6 or 8 s" in caught.value.message
