"""The tracker's timing rules: poll cadence by age, back-off, and the cap on status calls per second."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from bot.services.pacing import CallCap, poll_delay, retry_delay


class FakeTime:
    """A monotonic clock and a `sleep` that moves it, so the cap can be timed without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ManualTime:
    """A clock that moves only when the test says so: sleepers wake when `advance` passes their time."""

    def __init__(self) -> None:
        self.now = 100.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        await wake

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
        await settle()


async def settle() -> None:
    """Let every task that can run do so until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


def cap(time: FakeTime | ManualTime, rate: float, burst: int = 0) -> CallCap:
    return CallCap(rate, burst=burst, clock=time.clock, sleep=time.sleep)


def busiest_window(times: list[float], window: float = 1.0) -> int:
    """The most calls in any window [t, t + window): the busiest one starts at some call."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + window - 1e-9) for t in ordered)


# ---- poll cadence and back-off ----------------------------------------------------------------------------


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


# ---- the cap on status calls ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "per_second"), [(5.0, 5), (2.5, 2), (1.0, 1), (7.9, 7)])
async def test_no_second_ever_has_more_calls_than_the_cap(rate: float, per_second: int) -> None:
    time = FakeTime()
    limit = cap(time, rate)
    calls: list[float] = []

    for _ in range(200):
        await limit.acquire()
        calls.append(time.now)

    assert busiest_window(calls) == per_second
    # ...and the cap is used, not just respected: 200 calls take the time they must and no more.
    assert calls[-1] - calls[0] == pytest.approx(200 // per_second - 1 + (200 % per_second > 0), abs=1e-6)


async def test_the_cap_holds_for_calls_arriving_at_odd_moments() -> None:
    time = FakeTime()
    limit = cap(time, 3.0)
    calls: list[float] = []
    gaps = itertools.cycle([0.0, 0.05, 0.3, 0.0, 0.7, 0.01, 1.3, 0.0, 0.0, 0.45])

    for _ in range(300):
        time.now += next(gaps)
        await limit.acquire()
        calls.append(time.now)

    assert busiest_window(calls) <= 3


async def test_the_cap_holds_for_many_callers_at_once() -> None:
    time = FakeTime()
    limit = cap(time, 5.0)
    calls: list[float] = []

    async def call() -> None:
        await limit.acquire()
        calls.append(time.now)

    await asyncio.gather(*(call() for _ in range(120)))

    assert len(calls) == 120
    assert busiest_window(calls) == 5


async def test_a_rate_below_one_a_second_means_one_call_per_period() -> None:
    time = FakeTime()
    limit = cap(time, 0.5)
    calls: list[float] = []

    for _ in range(20):
        await limit.acquire()
        calls.append(time.now)

    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert min(gaps) == pytest.approx(2.0)
    assert busiest_window(calls, window=2.0) == 1


async def test_the_first_calls_up_to_the_cap_go_at_once_and_the_next_waits_for_the_window() -> None:
    time = FakeTime()
    limit = cap(time, 5.0)

    for _ in range(5):
        await limit.acquire()
    assert time.sleeps == []

    time.now += 0.4
    await limit.acquire()

    # The sixth call may go only once the first one is a full second old.
    assert time.now == pytest.approx(101.0)


@pytest.mark.parametrize("burst", [1, 3])
async def test_the_burst_allowance_adds_exactly_that_many_calls_per_second(burst: int) -> None:
    time = FakeTime()
    limit = cap(time, 2.0, burst=burst)
    calls: list[float] = []

    for _ in range(100):
        await limit.acquire()
        calls.append(time.now)

    assert busiest_window(calls) == 2 + burst
    assert calls[: 2 + burst] == [100.0] * (2 + burst)


async def test_no_burst_by_default() -> None:
    time = FakeTime()
    limit = cap(time, 2.0)

    for _ in range(3):
        await limit.acquire()

    assert time.sleeps == pytest.approx([1.0])


async def test_a_cap_left_idle_lets_a_call_through_at_once() -> None:
    time = FakeTime()
    limit = cap(time, 2.0)
    for _ in range(6):
        await limit.acquire()
    sleeps = len(time.sleeps)

    time.now += 1.0
    await limit.acquire()
    await limit.acquire()

    assert len(time.sleeps) == sleeps


async def test_idling_saves_up_nothing() -> None:
    # A token bucket left alone for an hour lets a burst through; the cap lets through what it always does.
    time = FakeTime()
    limit = cap(time, 2.0)

    time.now += 3600.0
    calls: list[float] = []
    for _ in range(6):
        await limit.acquire()
        calls.append(time.now)

    assert busiest_window(calls) == 2


async def test_waiting_callers_are_served_in_the_order_they_asked() -> None:
    time = ManualTime()
    limit = cap(time, 1.0)
    served: list[int] = []

    async def call(number: int) -> None:
        await limit.acquire()
        served.append(number)

    callers = []
    for number in range(8):
        callers.append(asyncio.create_task(call(number)))
        await settle()  # each asks before the next does

    for _ in range(8):
        await time.advance(1.0)
    await asyncio.gather(*callers)

    assert served == list(range(8))


async def test_waiting_counts_the_callers_queued_for_the_cap() -> None:
    time = ManualTime()
    limit = cap(time, 2.0)
    callers = [asyncio.create_task(limit.acquire()) for _ in range(7)]
    await settle()

    assert limit.waiting == 5  # two went through at once

    await time.advance(1.0)
    assert limit.waiting == 3

    await time.advance(1.0)
    await time.advance(1.0)
    assert limit.waiting == 0
    await asyncio.gather(*callers)


async def test_a_caller_that_gives_up_leaves_the_queue() -> None:
    time = ManualTime()
    limit = cap(time, 1.0)
    await limit.acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await settle()
    assert limit.waiting == 2

    first.cancel()
    await settle()

    assert limit.waiting == 1
    await time.advance(1.0)
    await second
    assert limit.waiting == 0


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError):
        CallCap(rate)
