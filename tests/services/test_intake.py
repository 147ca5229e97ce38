"""Intake: how many of a member's requests may be prepared at once, and the image threads they share."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.services.intake import IMAGE_WORKERS, MAX_PREPARING_PER_MEMBER, Intake

ALICE, BOB = 1, 2


def test_a_member_gets_two_slots_and_a_third_request_none() -> None:
    intake = Intake()

    first, second = intake.claim(ALICE), intake.claim(ALICE)

    assert first is not None and second is not None
    assert intake.claim(ALICE) is None
    assert intake.preparing(ALICE) == MAX_PREPARING_PER_MEMBER == 2


def test_other_members_are_not_held_up_by_one_member() -> None:
    intake = Intake()
    intake.claim(ALICE)
    intake.claim(ALICE)

    assert intake.claim(BOB) is not None


def test_a_slot_comes_back_when_its_request_ends_even_by_an_error() -> None:
    intake = Intake()
    first = intake.claim(ALICE)
    intake.claim(ALICE)
    assert first is not None

    with pytest.raises(RuntimeError), first:
        raise RuntimeError("the download failed")

    assert intake.preparing(ALICE) == 1
    assert intake.claim(ALICE) is not None


def test_a_slot_is_given_back_only_once() -> None:
    intake = Intake()
    slot = intake.claim(ALICE)
    intake.claim(ALICE)
    assert slot is not None

    with slot:
        pass
    with slot:
        pass

    assert intake.preparing(ALICE) == 1


async def test_image_work_runs_in_its_own_bounded_threads() -> None:
    intake = Intake(image_workers=IMAGE_WORKERS)
    lock = threading.Lock()
    running = peak = 0
    two_started = threading.Event()
    release = threading.Event()
    names: set[str] = set()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
            if running == IMAGE_WORKERS:
                two_started.set()
        release.wait(timeout=30)
        with lock:
            running -= 1
        return n * n

    jobs = [asyncio.create_task(intake.image_work(work, n)) for n in range(6)]
    assert await asyncio.to_thread(two_started.wait, 30)
    await asyncio.sleep(0.05)  # room for a pool without a bound to start more; a bounded one can't
    release.set()
    results = await asyncio.gather(*jobs)
    intake.close()

    assert results == [n * n for n in range(6)]
    assert peak == IMAGE_WORKERS == 2
    assert all(name.startswith("images") for name in names)
    assert threading.current_thread().name not in names
