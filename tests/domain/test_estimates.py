"""Estimates from recorded render times: the kind's own renders, the model's, or none."""

from __future__ import annotations

import math

import pytest

from bot.domain.estimates import (
    LAST_RENDERS,
    MIN_SAMPLES,
    EstimateTable,
    RenderKind,
    Sample,
    estimate,
    expected_start_in,
)

PRO5 = RenderKind("kling-v3", "pro", 5)
PRO10 = RenderKind("kling-v3", "pro", 10)
STD5 = RenderKind("kling-v3", "std", 5)
OTHER = RenderKind("veo-3", "std", 8)


def samples(kind: RenderKind, *seconds: float) -> list[Sample]:
    return [Sample(kind, s) for s in seconds]


def test_estimate_of_a_kind_is_its_median_p90_and_p10() -> None:
    history = samples(PRO5, *range(100, 200, 5))  # 20 renders: 100, 105, ..., 195 s

    found = estimate(history, PRO5)

    assert found is not None
    assert (found.median, found.p90, found.low, found.samples, found.exact) == (145, 185, 105, 20, True)


def test_with_fewer_than_ten_renders_the_earliest_plausible_end_is_the_fastest_one() -> None:
    found = estimate(samples(PRO5, 150, 130, 170, 140, 160), PRO5)

    assert found is not None
    assert (found.low, found.median, found.p90) == (130, 150, 170)


def test_too_few_renders_of_the_model_give_no_estimate() -> None:
    history = samples(PRO5, *[120.0] * (MIN_SAMPLES - 1)) + samples(OTHER, *[60.0] * 20)

    assert estimate(history, PRO5) is None


def test_other_models_never_stand_in() -> None:
    assert estimate(samples(OTHER, *[60.0] * 20), PRO5) is None


def test_only_the_newest_renders_of_the_kind_count() -> None:
    newest_first = samples(PRO5, *[200.0] * LAST_RENDERS) + samples(PRO5, *[50.0] * 100)

    found = estimate(newest_first, PRO5)

    assert found is not None
    assert (found.low, found.samples) == (200.0, LAST_RENDERS)


def test_a_kind_without_enough_history_falls_back_to_its_model_in_any_quality() -> None:
    history = samples(STD5, 100, 110, 120, 130, 140) + samples(PRO5, 300, 300)

    found = estimate(history, PRO5)

    assert found is not None
    assert found.exact is False
    assert (found.samples, found.kind) == (7, PRO5)
    assert (found.low, found.median, found.p90) == (100, 130, 300)


def test_the_model_fallback_scales_longer_clips_down_and_keeps_shorter_ones() -> None:
    # A longer clip never renders faster, and at most in proportion to its length: the estimate leans early.
    ten_seconds = samples(PRO10, 200, 220, 240, 260, 280)
    assert (found := estimate(ten_seconds, PRO5)) is not None
    assert (found.low, found.median, found.p90) == (100, 120, 140)

    five_seconds = samples(PRO5, 100, 110, 120, 130, 140)
    assert (found := estimate(five_seconds, PRO10)) is not None
    assert (found.low, found.median, found.p90) == (100, 120, 140)


def test_times_that_are_no_measurement_are_left_out() -> None:
    history = samples(PRO5, -5.0, 0.0, math.nan, math.inf, 100, 110, 120, 130)

    assert estimate(history, PRO5) is None
    assert estimate([*history, Sample(PRO5, 140)], PRO5) is not None


def test_table_answers_each_kind_from_its_own_models_renders() -> None:
    table = EstimateTable(samples(PRO5, *[120.0] * 6) + samples(OTHER, *[60.0] * 6))

    pro5, other, unknown = table.estimate(PRO5), table.estimate(OTHER), table.estimate(RenderKind("x", "std", 5))

    assert pro5 is not None and pro5.median == 120.0
    assert other is not None and other.median == 60.0
    assert unknown is None
    assert len(table) == 12


@pytest.mark.parametrize(
    ("place", "slots", "typical", "seconds"),
    [(1, 2, 120.0, 60.0), (3, 2, 120.0, 180.0), (6, 1, 60.0, 360.0), (1, 0, 120.0, 0.0), (2, 2, 0.0, 0.0)],
)
def test_expected_start_grows_with_the_place_and_shrinks_with_the_slots(
    place: int, slots: int, typical: float, seconds: float
) -> None:
    assert expected_start_in(place, slots, typical) == seconds
