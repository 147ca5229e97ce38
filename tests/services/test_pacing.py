"""The tracker's timing rules: poll cadence by age, back-off, and the token bucket on status calls."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.pacing import RateLimiter, poll_delay, retry_delay


class FakeTime:
    """A monotonic clock and a `sleep` that moves it, so the bucket can be timed without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(time: FakeTime, rate: float, burst: float | None = None) -> RateLimiter:
    return RateLimiter(rate, burst=burst, clock=time.clock, sleep=time.sleep)


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0, 10.0), (119, 10.0), (120, 15.0), (599, 15.0), (600, 30.0), (1799, 30.0), (1800, 60.0), (86_400, 60.0)],
)
def test_poll_delay_grows_as_the_render_ages(age: float, expected: float) -> None:
    assert poll_delay(age, 10.0) == expected


def test_poll_delay_of_an_old_render_is_capped_at_two_minutes() -> None:
    assert poll_delay(5000, 30.0) == 120.0


def test_poll_delay_never_goes_below_the_configured_interval() -> None:
    assert poll_delay(5000, 200.0) == 200.0


@pytest.mark.parametrize(("attempt", "expected"), [(0, 10.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0)])
def test_retry_delay_doubles_with_each_attempt(attempt: int, expected: float) -> None:
    assert retry_delay(attempt, 10.0) == expected


def test_retry_delay_is_capped() -> None:
    assert retry_delay(30, 10.0) == 300.0
    assert retry_delay(30, 10.0, cap=60.0) == 60.0


async def test_limiter_lets_a_burst_through_without_waiting() -> None:
    time = FakeTime()
    bucket = limiter(time, 5.0)

    for _ in range(5):
        await bucket.acquire()

    assert time.sleeps == []


async def test_limiter_caps_calls_per_second() -> None:
    time = FakeTime()
    bucket = limiter(time, 5.0)
    start = time.now

    for _ in range(15):
        await bucket.acquire()

    # 5 from the full bucket, then one every 1/5 s: the other 10 take 2 s.
    assert time.now - start == pytest.approx(2.0)
    assert time.sleeps == pytest.approx([0.2] * 10)


async def test_limiter_refills_while_idle() -> None:
    time = FakeTime()
    bucket = limiter(time, 2.0, burst=2)
    await bucket.acquire()
    await bucket.acquire()

    time.now += 1.0
    await bucket.acquire()
    await bucket.acquire()

    assert time.sleeps == []


async def test_limiter_never_stores_more_than_its_burst() -> None:
    time = FakeTime()
    bucket = limiter(time, 1.0, burst=2)

    time.now += 3600.0
    for _ in range(3):
        await bucket.acquire()

    assert time.sleeps == pytest.approx([1.0])


async def test_slow_rate_below_one_per_second_still_allows_one_call_at_once() -> None:
    time = FakeTime()
    bucket = limiter(time, 0.5)

    await bucket.acquire()
    await bucket.acquire()

    assert time.sleeps == pytest.approx([2.0])


async def test_concurrent_callers_share_the_rate() -> None:
    time = FakeTime()
    bucket = limiter(time, 1.0, burst=1)

    await asyncio.gather(*(bucket.acquire() for _ in range(4)))

    assert time.now - 100.0 == pytest.approx(3.0)
