"""A billed task is never forgotten, and a process that lost its lease changes nothing.

The create call costs money and cannot be repeated safely: its task id must reach the database (or the journal)
whatever happens around it, and shutdown must not cut it off. Leases are enforced by the database: a step of a
process whose lease expired (another took the render over) is refused and stops.
"""

# ruff: noqa: F811  # the harness fixtures are imported from test_tracker and requested by name
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.render import NewRender, RenderRecord
from bot.domain.states import RenderState
from bot.storage.db import Database
from bot.storage.renders import LeasedRenders, LeaseLost, RenderRepository
from tests.services.test_tracker import (  # noqa: F401  # fixtures
    ON_EVERY_ENGINE,
    Harness,
    api,
    db,
    harness,
    make_harness,
    no_step_crashes,
    session,
)
from tests.storage.builders import CHANNEL, GUILD, T0, USER, accept_all, video_request


class FlakyWrites:
    """Make the first `times` moves of a render to `state` fail as a database outage would."""

    def __init__(self, repo: RenderRepository, state: RenderState, times: int) -> None:
        self.left = times
        self._state = state
        self._move = repo.move_leased
        repo.move_leased = self  # type: ignore[method-assign]

    async def __call__(self, render_id: str, to: RenderState, **kwargs: Any) -> RenderRecord | None:
        if to is self._state and self.left > 0:
            self.left -= 1
            raise ConnectionResetError("database went away")
        return await self._move(render_id, to, **kwargs)


async def test_task_id_write_is_retried_until_it_lands(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyWrites(harness.repo, RenderState.QUEUED, times=3)
    render = await harness.add()

    done = await harness.finish(render.id)

    assert flaky.left == 0
    assert done.state is RenderState.DELIVERED
    assert len(harness.api.create_calls) == 1
    warned = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not recorded yet" in r.message
    ]
    assert len(warned) == 3 and all(done.task_id in line and render.id in line for line in warned)


async def test_task_id_the_database_never_took_is_found_in_the_journal_after_a_restart(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    first = make_harness()
    FlakyWrites(first.repo, RenderState.QUEUED, times=100)
    render = await first.add()
    await first.run()
    stuck = await first.get(render.id)
    assert stuck.state is RenderState.SUBMITTING  # the API has the task; the database does not know it
    caplog.clear()  # the ERROR that said so is expected here

    restarted = make_harness()  # same work directory: the same process, started again
    restarted.repo.move_leased = RenderRepository.move_leased.__get__(restarted.repo)  # type: ignore[method-assign]
    await restarted.tracker.prepare()
    restarted.clock.advance(600)
    done = await restarted.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert len(restarted.api.create_calls) == 1  # never sent twice
    assert done.failure_kind is None


async def test_shutdown_waits_for_a_create_in_flight(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_timeout=5.0)
    harness.api.fail_next("create", "slow", seconds=1.0)
    render = await harness.add()
    running = asyncio.create_task(harness.tracker.run())
    for _ in range(500):
        if harness.api.create_calls:
            break
        await asyncio.sleep(0.01)

    await harness.tracker.stop(grace=0.05)
    await running

    stopped = await harness.get(render.id)
    assert stopped.state is RenderState.QUEUED
    assert stopped.task_id is not None


@ON_EVERY_ENGINE
async def test_a_process_whose_lease_expired_is_refused_by_the_database(db: Database, tmp_path: Path) -> None:
    # Two processes: two connection pools on one database, two owners.
    other = Database.from_url(db.engine.url.render_as_string(hide_password=False))
    try:
        first_repo, second_repo = RenderRepository(db), RenderRepository(other)
        harness_render = await _accepted_render(first_repo)
        now = harness_render.created_at
        [claimed] = await first_repo.claim_due("process-a", now=now, limit=1, lease_seconds=60)
        stalled = LeasedRenders(first_repo, "process-a")
        later = now + timedelta(seconds=61)
        [taken] = await second_repo.claim_due("process-b", now=later, limit=1, lease_seconds=60)
        assert taken.id == claimed.id
        await LeasedRenders(second_repo, "process-b").update(taken.id, now=later, attempts=7)

        with pytest.raises(LeaseLost):
            await stalled.update(claimed.id, now=later, attempts=1)
        with pytest.raises(LeaseLost):
            await stalled.move(claimed.id, RenderState.FAILED, now=later)

        current = await second_repo.get(claimed.id)
        assert current is not None
        assert (current.state, current.attempts, current.lease_owner) == (RenderState.ACCEPTED, 7, "process-b")
    finally:
        await other.close()


async def _accepted_render(repo: RenderRepository) -> RenderRecord:
    new = NewRender(GUILD, CHANNEL, USER, video_request(), 5, 25 * 1024 * 1024, RenderState.ACCEPTED)
    _, [render] = await repo.reserve([new], accept_all, now=T0)
    return render
