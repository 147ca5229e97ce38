from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.cost import request_cost, take_cost
from bot.domain.quota_types import CostRates
from bot.domain.request import AspectRatio, GenerationMode, QualityMode, Shot, VideoRequest

REQUEST = VideoRequest(
    prompt="a lighthouse at dusk",
    generation_mode=GenerationMode.TEXT,
    mode=QualityMode.STD,
    duration=5,
    aspect_ratio=AspectRatio.WIDE,
)


@pytest.mark.parametrize(
    ("mode", "duration", "expected"),
    [
        (QualityMode.STD, 5, 5),
        (QualityMode.PRO, 5, 10),
        (QualityMode.STD, 15, 15),
        (QualityMode.PRO, 3, 6),
    ],
)
def test_take_cost_is_duration_times_default_rate(mode: QualityMode, duration: int, expected: int) -> None:
    assert take_cost(replace(REQUEST, mode=mode, duration=duration), CostRates()) == expected


def test_take_cost_uses_configured_rates() -> None:
    rates = CostRates(std_per_second=3, pro_per_second=7)

    assert take_cost(REQUEST, rates) == 15
    assert take_cost(replace(REQUEST, mode=QualityMode.PRO), rates) == 35


def test_request_cost_charges_every_take() -> None:
    request = replace(REQUEST, mode=QualityMode.PRO, duration=10, takes=3)

    assert request_cost(request, CostRates()) == 60


def test_multi_shot_costs_the_total_of_its_shots() -> None:
    request = replace(REQUEST, multi_shot=True).with_shots((Shot("a", 4), Shot("b", 6)))

    assert request_cost(request, CostRates()) == 10
