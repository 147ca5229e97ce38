"""The card's line on how long a render usually takes."""

from __future__ import annotations

import pytest

from bot.discord_app.ui import text
from bot.discord_app.ui.text import estimate_span, format_estimate
from bot.domain.estimates import Estimate, RenderKind

PRO5 = RenderKind("kling-v3", "pro", 5)


def measured(median: float, p90: float, *, samples: int = 24, exact: bool = True) -> Estimate:
    return Estimate(median=median, p90=p90, low=median / 2, samples=samples, kind=PRO5, exact=exact)


def test_estimate_of_the_kind_names_how_many_renders_of_which_kind() -> None:
    assert format_estimate(measured(130, 170)) == "usually 2–3 min (last 24 kling-v3 pro 5 s renders)"


def test_estimate_of_the_model_says_it_is_the_models() -> None:
    assert format_estimate(measured(130, 250, samples=7, exact=False)) == "usually 2–4 min (last 7 kling-v3 renders)"


def test_the_models_display_name_can_replace_its_key() -> None:
    assert format_estimate(measured(130, 170), "Kling 3") == "usually 2–3 min (last 24 Kling 3 pro 5 s renders)"


def test_no_history_says_so() -> None:
    assert format_estimate(None) == "no estimate yet"


@pytest.mark.parametrize(
    ("median", "p90", "said"),
    [
        (38, 52, "40–50 s"),
        (40, 41, "about 40 s"),
        (1, 2, "about 5 s"),
        (70, 100, "1–2 min"),
        (150, 155, "about 3 min"),  # half up: two and a half minutes reads as three
        (20, 200, "1–3 min"),
        (3000, 4500, "50–75 min"),
    ],
)
def test_span_reads_in_seconds_under_a_minute_and_a_half_and_in_minutes_above(
    median: float, p90: float, said: str
) -> None:
    assert estimate_span(median, p90) == said


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (20.0, "Expected to start within a minute."),
        (150.0, "Expected to start in about 2 min."),
        (7200.0, "Expected to start in about 2 h."),
    ],
)
def test_expected_start_reads_in_minutes_or_hours(seconds: float, shown: str) -> None:
    assert text.expected_start(seconds) == shown
