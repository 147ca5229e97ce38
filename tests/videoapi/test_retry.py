"""The pure retry decisions: what may be repeated, and how long to wait."""

from __future__ import annotations

import pytest

from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    NoCredit,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    VideoApiError,
)
from bot.videoapi.retry import MAX_RETRY_AFTER, RetryPolicy, backoff_delay, is_retryable

CASES: list[tuple[str, VideoApiError, bool, bool]] = [
    # name, error, retried on create, retried on status
    ("connect refused", ApiConnectionError(reached=False), True, True),
    ("connection broke after send", ApiConnectionError(reached=True), False, True),
    ("connect timeout", ApiTimeout(reached=False), True, True),
    ("read timeout", ApiTimeout(reached=True), False, True),
    ("429", RateLimited("busy"), True, True),
    ("500", ServerError("x", status=500, code="do_request_failed"), False, True),
    ("502", ServerError("x", status=502), False, True),
    ("503 other", ServerError("x", status=503), False, True),
    ("503 model_not_found", ServerError("x", status=503, code="model_not_found"), True, True),
    ("400", BadRequest("x", status=400), False, False),
    ("401", AuthError("x", status=401), False, False),
    ("402", NoCredit("x", status=402), False, False),
    ("task not found", TaskNotFound("x", status=400), False, False),
    ("unexpected", UnexpectedResponse("x"), False, False),
]


@pytest.mark.parametrize(("name", "error", "on_create", "on_status"), CASES, ids=[c[0] for c in CASES])
def test_retry_decisions(name: str, error: VideoApiError, on_create: bool, on_status: bool) -> None:
    assert is_retryable(error, create=True) is on_create
    assert is_retryable(error, create=False) is on_status


POLICY = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=60.0)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (5000, 60.0)])
def test_backoff_ceiling_doubles_up_to_max_delay(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, POLICY, None, lambda: 1.0) == ceiling


def test_backoff_is_full_jitter() -> None:
    assert backoff_delay(3, POLICY, None, lambda: 0.0) == 0.0
    assert backoff_delay(3, POLICY, None, lambda: 0.25) == 1.0


def test_retry_after_is_a_floor() -> None:
    assert backoff_delay(1, POLICY, 30.0, lambda: 0.5) == 30.0


def test_computed_delay_wins_over_a_shorter_retry_after() -> None:
    assert backoff_delay(7, POLICY, 2.0, lambda: 1.0) == 60.0


def test_huge_retry_after_is_capped() -> None:
    assert backoff_delay(1, POLICY, 86400.0, lambda: 0.5) == MAX_RETRY_AFTER


def test_negative_inputs_never_give_negative_delay() -> None:
    assert backoff_delay(0, POLICY, -5.0, lambda: -1.0) == 0.0


def test_retry_after_cap_is_the_policys() -> None:
    patient = RetryPolicy(max_attempts=3, max_retry_after=20.0)

    assert backoff_delay(1, patient, 86400.0, lambda: 0.5) == 20.0
    assert backoff_delay(1, patient, 12.0, lambda: 0.5) == 12.0


def test_the_default_retry_after_cap_is_five_minutes() -> None:
    assert RetryPolicy().max_retry_after == MAX_RETRY_AFTER == 300.0
