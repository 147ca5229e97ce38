"""A moderator's decision that lands while a tracker step holds the render must not be delayed by that step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.states import RenderState
from bot.services.approvals import ApprovalService
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import GUILD, T0, add_render
from tests.storage.databases import ENGINES, open_database

OWNER = "tracker-1"
MODERATOR = 4_000_000_000_000_000_004
DECIDED_AT = T0 + timedelta(seconds=1)


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(str(request.param), tmp_path) as database:
        yield database


async def test_approval_during_a_tracker_step_leaves_the_render_due(db: Database) -> None:
    repo = RenderRepository(db)
    [held] = await add_render(repo, state=RenderState.AWAITING_APPROVAL)
    await repo.update(held.id, now=T0, next_poll_at=T0)
    assert [r.id for r in await repo.claim_due(OWNER, now=T0, limit=10, lease_seconds=300)] == [held.id]
    service = ApprovalService(
        renders=repo, publisher=RecordingPublisher(), wake_tracker=lambda: None, now=lambda: DECIDED_AT
    )

    await service.decide(held.group_id, guild_id=GUILD, moderator_id=MODERATOR, approve=True, approval_channel_id=1)
    # The step that claimed it still saw a held render: it asks to look again in an hour.
    await repo.release(held.id, OWNER, next_poll_at=T0 + timedelta(hours=1))

    due = await repo.claim_due(OWNER, now=DECIDED_AT, limit=10, lease_seconds=300)
    assert [(r.id, r.state) for r in due] == [(held.id, RenderState.ACCEPTED)]
