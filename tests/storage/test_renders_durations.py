"""What estimates are measured from: the time from submit to finished of the renders the API finished lately."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.request import QualityMode
from bot.domain.states import FailureKind, RenderState
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.services.render_history import add_finished
from tests.storage.builders import T0, add_render, video_request


async def test_recent_durations_lists_finished_renders_newest_first(db: Database) -> None:
    repo = RenderRepository(db)
    pro = replace(video_request(), model="kling-v3", mode=QualityMode.PRO, duration=10)
    await add_finished(repo, video_request(), 150.0, finished_at=T0)
    await add_finished(repo, pro, 200.5, finished_at=T0 + timedelta(minutes=2), delivered=False)
    await add_finished(repo, video_request(), 130.0, finished_at=T0 + timedelta(minutes=1))

    assert await repo.recent_durations() == [
        ("kling-v3", "pro", 10, 200.5),
        ("kling-v3", "std", 5, 130.0),
        ("kling-v3", "std", 5, 150.0),
    ]
    assert await repo.recent_durations(limit=1) == [("kling-v3", "pro", 10, 200.5)]


async def test_recent_durations_leaves_out_failed_and_unfinished_renders(db: Database) -> None:
    repo = RenderRepository(db)
    await add_finished(repo, video_request(), 150.0, finished_at=T0)
    await add_render(repo, now=T0)  # accepted, not sent yet
    [failed] = await add_render(repo, now=T0)
    await repo.move(failed.id, RenderState.FAILED, now=T0, failure_kind=FailureKind.RENDER_FAILED, finished_at=T0)
    [running] = await add_render(repo, now=T0)
    await repo.move(running.id, RenderState.SUBMITTING, now=T0)
    await repo.move(running.id, RenderState.QUEUED, now=T0, task_id="t-running", submitted_at=T0)

    assert await repo.recent_durations() == [("kling-v3", "std", 5, 150.0)]
