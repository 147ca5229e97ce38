from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from bot.domain.quota_types import Decision, Refusal, RefusalReason, UsageSnapshot
from bot.domain.states import RenderState
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from bot.storage.tables import renders
from tests.storage.builders import GUILD, T0, USER, accept_all, new_render, refuse, video_request


async def _count_rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(renders))).scalar_one())


def room_for(renders_allowed: int, cost: int) -> Callable[[UsageSnapshot], Decision]:
    """A policy with room for `renders_allowed` renders of `cost` in the guild today."""

    def decide(usage: UsageSnapshot) -> Decision:
        if usage.guild_used_today + cost > renders_allowed * cost:
            return Decision(cost=cost, refusal=Refusal(RefusalReason.GUILD_DAILY))
        return Decision(cost=cost)

    return decide


async def test_twenty_concurrent_reservations_against_room_for_three_accept_exactly_three(
    db: Database, engine_name: str
) -> None:
    repo = RenderRepository(db)
    decide = room_for(3, cost=5)

    results = await asyncio.gather(
        *(repo.reserve([new_render(user_id=USER + i, cost=5)], decide, now=T0) for i in range(20))
    )

    accepted = [records for decision, records in results if decision.accepted]
    refused = [decision for decision, _ in results if not decision.accepted]
    print(f"\n[{engine_name}] 20 concurrent reserve() vs room for 3: {len(accepted)} accepted, {len(refused)} refused")
    assert len(accepted) == 3
    assert all(d.refusal and d.refusal.reason is RefusalReason.GUILD_DAILY for d in refused)
    assert await _count_rows(db) == 3


async def test_refused_reservation_inserts_nothing_and_returns_the_refusal(db: Database) -> None:
    repo = RenderRepository(db)

    decision, records = await repo.reserve([new_render()], refuse, now=T0)

    assert decision.refusal == Refusal(RefusalReason.PAUSED)
    assert records == []
    assert await _count_rows(db) == 0


async def test_takes_of_one_request_share_a_group_and_are_numbered(db: Database) -> None:
    repo = RenderRepository(db)

    _, records = await repo.reserve([new_render(), new_render(), new_render()], accept_all, now=T0)

    assert [r.take_index for r in records] == [1, 2, 3]
    assert {r.takes for r in records} == {3}
    assert len({r.group_id for r in records}) == 1
    assert len({r.id for r in records}) == 3
    assert await repo.list_group(records[0].group_id) == records


async def test_reserved_render_keeps_what_was_asked(db: Database) -> None:
    repo = RenderRepository(db)

    _, [record] = await repo.reserve([new_render(cost=7)], accept_all, now=T0)

    assert record.request == video_request()
    assert record.state is RenderState.ACCEPTED
    assert (record.guild_id, record.user_id, record.cost) == (GUILD, USER, 7)
    assert record.created_day == "2026-11-24"
    assert record.created_month == "2026-11"
    assert record.next_poll_at == T0
    assert record.closed is False
    assert await repo.get(record.id) == record


async def test_decision_needing_approval_holds_the_renders(db: Database) -> None:
    repo = RenderRepository(db)

    def hold(usage: UsageSnapshot) -> Decision:
        return Decision(cost=10, needs_approval=True, approval_reason="pro mode")

    _, records = await repo.reserve([new_render(), new_render()], hold, now=T0)

    assert {r.state for r in records} == {RenderState.AWAITING_APPROVAL}
    assert {r.approval_reason for r in records} == {"pro mode"}


async def test_decide_sees_the_members_usage(db: Database) -> None:
    repo = RenderRepository(db)
    await repo.reserve([new_render(cost=5), new_render(cost=5)], accept_all, now=T0)
    await repo.reserve([new_render(cost=4, user_id=USER + 1)], accept_all, now=T0 + timedelta(minutes=1))
    seen: list[UsageSnapshot] = []

    def spy(usage: UsageSnapshot) -> Decision:
        seen.append(usage)
        return Decision(cost=0, refusal=Refusal(RefusalReason.COOLDOWN))

    await repo.reserve([new_render()], spy, now=T0 + timedelta(minutes=2))

    assert seen == [
        UsageSnapshot(
            member_used_today=10,
            member_granted_today=0,
            member_in_flight=2,
            member_last_request_at=T0,
            guild_used_today=14,
            guild_used_month=14,
        )
    ]


async def test_unknown_guild_starts_with_no_usage(db: Database) -> None:
    snapshot = await RenderRepository(db).member_snapshot(GUILD, USER, T0)

    assert snapshot == UsageSnapshot()
