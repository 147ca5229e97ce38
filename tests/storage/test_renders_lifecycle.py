from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from bot.domain.states import FailureKind, RenderState
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import GUILD, T0, USER, add_render


async def test_move_from_a_source_state_sets_state_and_fields(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    later = T0 + timedelta(seconds=3)

    moved = await repo.move(render.id, RenderState.SUBMITTING, now=later, submitted_at=later)

    assert moved is not None
    assert moved.state is RenderState.SUBMITTING
    assert moved.submitted_at == later
    assert moved.updated_at == later
    assert await repo.get(render.id) == moved


async def test_move_from_a_state_that_does_not_lead_there_returns_none_and_leaves_the_row(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)

    moved = await repo.move(render.id, RenderState.DELIVERED, now=T0 + timedelta(seconds=1), result_message_id=42)

    assert moved is None
    assert await repo.get(render.id) == render


async def test_move_of_a_missing_render_returns_none(db: Database) -> None:
    assert await RenderRepository(db).move("0" * 32, RenderState.FAILED, now=T0) is None


async def test_move_stores_the_failure_kind(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)

    failed = await repo.move(
        render.id, RenderState.FAILED, now=T0, failure_kind=FailureKind.API_REJECTED, failure_detail="bad prompt"
    )

    assert failed is not None
    assert failed.failure_kind is FailureKind.API_REJECTED
    assert (await repo.get(render.id)) == failed


async def test_move_refuses_to_set_fixed_columns(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)

    with pytest.raises(ValueError, match="cost"):
        await repo.move(render.id, RenderState.SUBMITTING, now=T0, cost=0)


async def test_update_sets_columns_without_touching_the_state(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    later = T0 + timedelta(minutes=1)

    await repo.update(render.id, now=later, progress=40, status_message_id=123, shown_hash="abc", closed=True)

    stored = await repo.get(render.id)
    assert stored is not None
    assert (stored.state, stored.progress, stored.status_message_id, stored.shown_hash, stored.closed) == (
        RenderState.ACCEPTED,
        40,
        123,
        "abc",
        True,
    )
    assert stored.updated_at == later


@pytest.mark.parametrize("refunded", [RenderState.FAILED, RenderState.DENIED])
async def test_refunded_render_no_longer_counts_as_usage(db: Database, refunded: RenderState) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo, state=RenderState.AWAITING_APPROVAL, cost=8)
    assert (await repo.member_snapshot(GUILD, USER, T0)).member_used_today == 8

    assert await repo.move(render.id, refunded, now=T0) is not None

    snapshot = await repo.member_snapshot(GUILD, USER, T0)
    assert (snapshot.member_used_today, snapshot.member_in_flight, snapshot.guild_used_today) == (0, 0, 0)
    assert await repo.guild_spend(GUILD, T0) == (0, 0)


async def test_delivered_render_stays_charged_but_is_not_in_flight(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo, cost=6)
    for state in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.SUCCEEDED, RenderState.DELIVERED):
        assert await repo.move(render.id, state, now=T0) is not None

    snapshot = await repo.member_snapshot(GUILD, USER, T0)

    assert (snapshot.member_used_today, snapshot.member_in_flight) == (6, 0)


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    repo = RenderRepository(db)
    paris_evening = datetime(2026, 11, 24, 23, 30, tzinfo=timezone(timedelta(hours=1)))

    [render] = await add_render(repo, now=paris_evening)
    stored = await repo.get(render.id)

    assert stored is not None
    for value in (stored.created_at, stored.updated_at, stored.next_poll_at):
        assert value is not None
        assert value.tzinfo is UTC
        assert value == paris_evening
    assert stored.created_day == "2026-11-24"  # 22:30 UTC


async def test_day_and_month_follow_utc_not_the_given_zone(db: Database) -> None:
    repo = RenderRepository(db)
    new_year_in_tokyo = datetime(2027, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=9)))

    [render] = await add_render(repo, now=new_year_in_tokyo)

    assert (render.created_day, render.created_month) == ("2026-12-31", "2026-12")


async def test_naive_datetimes_are_refused(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)

    with pytest.raises(StatementError, match="naive datetime"):
        await repo.update(render.id, now=datetime(2026, 11, 24, 12, 0))
