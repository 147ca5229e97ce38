"""What a request costs, in credits (PRODUCT.md §3: duration × the quality mode's rate)."""

from __future__ import annotations

from bot.domain.quota_types import CostRates
from bot.domain.request import QualityMode, VideoRequest


def take_cost(request: VideoRequest, rates: CostRates) -> int:
    """Credits for one take: seconds of video × the per-second rate of its quality mode."""
    per_second = rates.pro_per_second if request.mode is QualityMode.PRO else rates.std_per_second
    return request.duration * per_second


def request_cost(request: VideoRequest, rates: CostRates) -> int:
    """Credits for the whole request: every take is a render of its own and is charged as one."""
    return take_cost(request, rates) * request.takes
