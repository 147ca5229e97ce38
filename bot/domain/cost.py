"""What a request costs, in credits: seconds of video × the model's rate for its quality mode, plus the
model's sound surcharge per second when sound is on (PRODUCT.md §3; the rates live in the model table)."""

from __future__ import annotations

from bot.domain.models import ModelCost
from bot.domain.request import VideoRequest


def take_cost(request: VideoRequest, cost: ModelCost) -> int:
    """Credits for one take."""
    return request.duration * cost.per_second(request.mode, bool(request.sound))


def request_cost(request: VideoRequest, cost: ModelCost) -> int:
    """Credits for the whole request: every take is a render of its own and is charged as one."""
    return take_cost(request, cost) * request.takes
