"""Pure retry decisions: which failures are worth repeating, and how long to wait before doing so.

A create call costs credit once it reaches the gateway, so it is repeated only when the request certainly
never got there; status, content and model calls are free and safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.videoapi.errors import (
    MODEL_NOT_FOUND_CODE,
    ApiConnectionError,
    ApiTimeout,
    DownloadStalled,
    RateLimited,
    ServerError,
    VideoApiError,
)

# However long a server asks us to wait, we do not sleep longer than this in one go (MAX_RETRY_AFTER_SECONDS).
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to repeat a call; `max_attempts` counts the first try.

    `max_retry_after` caps a server's Retry-After, both what the client sleeps and what its errors report.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = MAX_RETRY_AFTER


def is_retryable(error: VideoApiError, *, create: bool) -> bool:
    """Whether repeating the call that raised `error` is safe and may help."""
    if create:
        return _never_reached_api(error)
    return isinstance(error, (RateLimited, ServerError, ApiTimeout, ApiConnectionError, DownloadStalled))


def _never_reached_api(error: VideoApiError) -> bool:
    if isinstance(error, (ApiConnectionError, ApiTimeout)):
        return not error.reached
    if isinstance(error, RateLimited):
        return True
    # No channel serves the model: the gateway answered before calling any upstream, so nothing was charged.
    return isinstance(error, ServerError) and error.status == 503 and error.code == MODEL_NOT_FOUND_CODE


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Full jitter: a random share of an exponentially growing ceiling capped at `policy.max_delay`, so many
    clients that failed together do not come back together. A server's Retry-After is a floor, and
    `policy.max_retry_after` the ceiling of everything.
    """
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(max(0, attempt - 1), 60))
    delay = min(1.0, max(0.0, rand())) * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(max(0.0, delay), max(0.0, policy.max_retry_after))
