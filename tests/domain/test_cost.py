"""What a request costs: seconds × the model's rate for the quality mode, plus its sound surcharge, per take."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.cost import request_cost, take_cost
from bot.domain.models import ModelCost, load_model_table
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
    assert take_cost(replace(REQUEST, mode=mode, duration=duration), ModelCost()) == expected


def test_take_cost_uses_configured_rates() -> None:
    rates = ModelCost(std=3, pro=7)

    assert take_cost(REQUEST, rates) == 15
    assert take_cost(replace(REQUEST, mode=QualityMode.PRO), rates) == 35


def test_request_cost_charges_every_take() -> None:
    request = replace(REQUEST, mode=QualityMode.PRO, duration=10, takes=3)

    assert request_cost(request, ModelCost()) == 60


def test_multi_shot_costs_the_total_of_its_shots() -> None:
    request = replace(REQUEST, multi_shot=True).with_shots((Shot("a", 4), Shot("b", 6)))

    assert request_cost(request, ModelCost()) == 10


def test_sound_adds_its_surcharge_per_second() -> None:
    rates = ModelCost(std=2, pro=4, sound=1)

    assert take_cost(replace(REQUEST, sound=True), rates) == 15
    assert take_cost(replace(REQUEST, mode=QualityMode.PRO, sound=True), rates) == 25
    assert request_cost(replace(REQUEST, sound=True, takes=2), rates) == 30


@pytest.mark.parametrize("sound", [False, None])
def test_no_surcharge_without_sound(sound: bool | None) -> None:
    # None: the model has no sound switch at all; neither is charged the surcharge.
    assert take_cost(replace(REQUEST, sound=sound), ModelCost(std=2, pro=4, sound=1)) == 10


# The shipped rates (models.toml): credits per second for std, pro, and the sound surcharge.
SHIPPED_RATES = {
    "kling-v3": (1, 2, 1),
    "seedance-2.0": (2, 4, 0),
    "veo-3.1": (3, 4, 2),
    "wan-2.6": (1, 2, 0),
    "wan-2.7": (1, 2, 0),
    "happyhorse-1.0": (1, 2, 0),
    "vidu-q3": (1, 2, 0),
}


@pytest.mark.parametrize(("key", "rates"), SHIPPED_RATES.items())
def test_each_shipped_model_costs_its_own_rates(key: str, rates: tuple[int, int, int]) -> None:
    spec = load_model_table().get(key)
    assert spec is not None
    std, pro, sound = rates
    request = replace(REQUEST, model=key, duration=8)

    assert take_cost(request, spec.cost) == 8 * std
    assert take_cost(replace(request, mode=QualityMode.PRO), spec.cost) == 8 * pro
    assert request_cost(replace(request, mode=QualityMode.PRO, sound=True, takes=2), spec.cost) == 2 * 8 * (pro + sound)


def test_every_shipped_model_has_its_rates_checked_here() -> None:
    assert sorted(spec.key for spec in load_model_table()) == sorted(SHIPPED_RATES)
