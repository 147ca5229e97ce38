"""Renders the API finished earlier, written straight to storage: the history estimates are measured from."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.render import NewRender, RenderRecord
from bot.domain.request import VideoRequest
from bot.domain.states import RenderState
from bot.storage.renders import RenderRepository
from tests.storage.builders import CHANNEL, GUILD, USER, accept_all


async def add_finished(
    repo: RenderRepository,
    request: VideoRequest,
    seconds: float,
    *,
    finished_at: datetime,
    delivered: bool = True,
) -> RenderRecord:
    """A render of `request` that took `seconds` from submit to finished at the API, ending at `finished_at`."""
    submitted = finished_at - timedelta(seconds=seconds)
    new = NewRender(GUILD, CHANNEL, USER, request, 5, 25 * 1024 * 1024, RenderState.ACCEPTED)
    _, [render] = await repo.reserve([new], accept_all, now=submitted)
    await repo.move(render.id, RenderState.SUBMITTING, now=submitted)
    await repo.move(render.id, RenderState.QUEUED, now=submitted, task_id=f"past-{render.id}", submitted_at=submitted)
    done = await repo.move(render.id, RenderState.SUCCEEDED, now=finished_at, finished_at=finished_at)
    if delivered:
        done = await repo.move(render.id, RenderState.DELIVERED, now=finished_at, closed=True)
    assert done is not None
    return done
