"""The bot's own queue in the database: admissions under MAX_RENDERS_AT_API in the fair order, shared by processes,
the gateway hold, places in line, and cancelling a waiting render. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.states import FailureKind, RenderState
from bot.metrics import REGISTRY
from bot.storage.db import Database
from bot.storage.renders import LeaseLost, RenderRepository
from tests.storage.builders import GUILD, T0, add_render

OTHER_GUILD = GUILD + 1
MEMBER_1, MEMBER_2, MEMBER_3 = 11, 12, 13


async def queue_of(repo: RenderRepository, *members: tuple[int, int, int]) -> list[str]:
    """Reserve (guild, member, takes) requests one second apart, their cards posted; returns their ids in order."""
    ids: list[str] = []
    for second, (guild, member, takes) in enumerate(members):
        records = await add_render(
            repo, now=T0 + timedelta(seconds=second), takes=takes, guild_id=guild, user_id=member
        )
        for record in records:
            await repo.set_first_status_message(record.id, 500 + len(ids), now=T0)
            ids.append(record.id)
    return ids


async def at_api(repo: RenderRepository) -> int:
    counts = await repo.count_by_state()
    return sum(counts.get(state, 0) for state in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING))


async def finish(repo: RenderRepository, render_id: str, *, at: int = 60) -> None:
    now = T0 + timedelta(seconds=at)
    assert await repo.move(render_id, RenderState.QUEUED, now=now, task_id=f"task-{render_id[:6]}")
    assert await repo.move(render_id, RenderState.SUCCEEDED, now=now)


@pytest.fixture
async def second_process(db: Database) -> AsyncIterator[RenderRepository]:
    """The renders as another process on the same database sees them: a Database of its own on the same URL."""
    other = Database.from_url(db.engine.url.render_as_string(hide_password=False))
    try:
        yield RenderRepository(other)
    finally:
        await other.close()


# ---- admissions ------------------------------------------------------------------------------------------


async def test_without_a_cap_every_waiting_render_is_let_through(db: Database) -> None:
    repo = RenderRepository(db)
    ids = await queue_of(repo, (GUILD, MEMBER_1, 3))

    admitted = [(await repo.admit(render_id, now=T0, cap=None))[0] for render_id in ids]

    assert all(render is not None and render.state is RenderState.SUBMITTING for render in admitted)


async def test_the_cap_lets_through_only_as_many_as_it_allows_and_sets_ready_at(db: Database) -> None:
    repo = RenderRepository(db)
    first, second, third = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1), (GUILD, MEMBER_3, 1))
    now = T0 + timedelta(minutes=5)

    one, _ = await repo.admit(first, now=now, cap=2)
    two, _ = await repo.admit(second, now=now, cap=2)
    three, turn = await repo.admit(third, now=now, cap=2)

    assert one is not None and two is not None
    assert (one.state, one.ready_at) == (RenderState.SUBMITTING, now)
    assert three is None and not turn.go
    assert (await repo.get(third)).state is RenderState.ACCEPTED  # type: ignore[union-attr]
    await finish(repo, first)
    again, _ = await repo.admit(third, now=now, cap=2)
    assert again is not None and again.state is RenderState.SUBMITTING


async def test_a_render_out_of_its_turn_is_refused_even_with_a_slot_free(db: Database) -> None:
    repo = RenderRepository(db)
    take_1, take_2, take_3, other = await queue_of(repo, (GUILD, MEMBER_1, 3), (GUILD, MEMBER_2, 1))

    # Member 2's only request is second in line, ahead of member 1's second and third takes.
    assert (await repo.admit(other, now=T0, cap=2))[0] is not None
    assert (await repo.admit(take_3, now=T0, cap=2))[0] is None
    assert (await repo.admit(take_1, now=T0, cap=2))[0] is not None
    assert (await repo.admit(take_2, now=T0, cap=2))[0] is None  # full now


async def test_a_take_that_went_back_after_a_refusal_keeps_its_first_ready_at(db: Database) -> None:
    repo = RenderRepository(db)
    [render_id] = await queue_of(repo, (GUILD, MEMBER_1, 1))
    await repo.admit(render_id, now=T0, cap=1)
    await repo.move(render_id, RenderState.ACCEPTED, now=T0 + timedelta(seconds=5))

    again, _ = await repo.admit(render_id, now=T0 + timedelta(seconds=30), cap=1)

    assert again is not None and again.ready_at == T0


async def test_an_admission_by_a_process_that_lost_the_lease_is_refused(db: Database) -> None:
    repo = RenderRepository(db)
    [render_id] = await queue_of(repo, (GUILD, MEMBER_1, 1))
    await repo.claim_due("process-b", now=T0 + timedelta(minutes=1), limit=1, lease_seconds=60)

    with pytest.raises(LeaseLost):
        await repo.admit(render_id, now=T0 + timedelta(minutes=1), cap=1, owner="process-a")

    assert (await repo.get(render_id)).state is RenderState.ACCEPTED  # type: ignore[union-attr]


async def test_two_processes_admitting_at_once_never_pass_the_cap_and_keep_the_fair_order(
    db: Database, second_process: RenderRepository
) -> None:
    repo = RenderRepository(db)
    ids = await queue_of(
        repo, (GUILD, MEMBER_1, 4), (GUILD, MEMBER_2, 1), (OTHER_GUILD, MEMBER_3, 2), (GUILD, MEMBER_3, 1)
    )
    # Round robin across the two servers, then across the members of the first: member 1's second take comes
    # only after member 3's request in the first server.
    expected_order = [ids[0], ids[5], ids[4], ids[6], ids[7], ids[1], ids[2], ids[3]]

    async def everyone_tries(now_s: int) -> list[str]:
        now = T0 + timedelta(seconds=now_s)
        waiting = [r for r in ids if (await repo.get(r)).state is RenderState.ACCEPTED]  # type: ignore[union-attr]
        # Both processes try every waiting render at the same moment, in the worst order (last in line first).
        tries = [
            (repo if index % 2 else second_process).admit(render_id, now=now, cap=3)
            for index, render_id in enumerate(reversed(waiting))
        ]
        results = await asyncio.gather(*tries)
        return [render.id for render, _ in results if render is not None]

    started = await everyone_tries(10)
    assert await at_api(repo) == 3
    assert sorted(started) == sorted(expected_order[:3])
    for round_, render_id in enumerate(list(started), start=1):
        await finish(repo, render_id, at=10 + round_)
        newly = await everyone_tries(20 + round_)
        assert len(newly) == 1 and await at_api(repo) == 3
        started += newly
    assert started[3:] == expected_order[3:6]


# ---- the gateway hold ------------------------------------------------------------------------------------


async def test_a_hold_keeps_the_queue_at_what_the_gateway_had_until_one_finishes(db: Database) -> None:
    repo = RenderRepository(db)
    first, second, refused, fourth = await queue_of(
        repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1), (GUILD, MEMBER_3, 1), (GUILD, MEMBER_1 + 10, 1)
    )
    for render_id in (first, second, refused):
        await repo.admit(render_id, now=T0, cap=None)
    hold = await repo.hold_api(refused, now=T0, backoff=10, fallback=180, retry_after=None)
    await repo.move(refused, RenderState.ACCEPTED, now=T0)

    assert (hold.at_api, hold.until) == (2, T0 + timedelta(seconds=180))
    assert (await repo.admit(refused, now=T0 + timedelta(seconds=10), cap=None))[0] is None
    await finish(repo, first, at=30)
    assert (await repo.admit(fourth, now=T0 + timedelta(seconds=31), cap=None))[0] is None  # not its turn
    assert (await repo.admit(refused, now=T0 + timedelta(seconds=31), cap=None))[0] is not None
    assert (await repo.admit(fourth, now=T0 + timedelta(seconds=32), cap=None))[0] is None  # full again


async def test_after_the_hold_one_render_at_a_time_is_let_through(db: Database) -> None:
    repo = RenderRepository(db)
    ids = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1), (GUILD, MEMBER_3, 1))
    await repo.admit(ids[0], now=T0, cap=None)
    await repo.hold_api(ids[0], now=T0, backoff=10, fallback=180, retry_after=None)
    await repo.move(ids[0], RenderState.ACCEPTED, now=T0)
    later = T0 + timedelta(seconds=11)

    probe, _ = await repo.admit(ids[0], now=later, cap=None)
    behind, _ = await repo.admit(ids[1], now=later, cap=None)
    assert probe is not None and behind is None
    await repo.move(ids[0], RenderState.QUEUED, now=later, task_id="t-1")  # the gateway took it
    assert (await repo.admit(ids[1], now=later, cap=None))[0] is not None


async def test_the_hold_is_shared_by_every_process(db: Database, second_process: RenderRepository) -> None:
    repo = RenderRepository(db)
    first, second = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1))
    await repo.admit(first, now=T0, cap=None)
    await repo.hold_api(first, now=T0, backoff=30, fallback=180, retry_after=None)
    await repo.move(first, RenderState.ACCEPTED, now=T0)

    assert (await second_process.admit(second, now=T0 + timedelta(seconds=5), cap=None))[0] is None
    assert not (await second_process.queue_turn(second, now=T0 + timedelta(seconds=5), cap=None)).go


# ---- places in line --------------------------------------------------------------------------------------


async def test_the_queue_pass_writes_places_and_only_changed_ones(db: Database) -> None:
    repo = RenderRepository(db)
    running, a, b, c = await queue_of(
        repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1), (GUILD, MEMBER_3, 1)
    )
    await repo.admit(running, now=T0 + timedelta(seconds=5), cap=1)

    looked = await repo.queue_pass(now=T0 + timedelta(seconds=5), cap=1, write_places=True)

    # Member 1 started a render while the others waited: members 2 and 3 go first.
    assert {r.id: r.queue_place for r in looked.moved} == {b: 1, c: 2, a: 3}
    assert (looked.waiting, looked.due) == (3, 0)
    assert (await repo.queue_pass(now=T0, cap=1, write_places=True)).moved == []


async def test_when_a_slot_frees_the_pass_makes_the_next_in_line_due_at_once(db: Database) -> None:
    repo = RenderRepository(db)
    running, waiting = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1))
    await repo.admit(running, now=T0, cap=1)
    later = T0 + timedelta(minutes=1)
    await repo.update(waiting, now=T0, next_poll_at=later + timedelta(minutes=1))
    await finish(repo, running, at=60)

    looked = await repo.queue_pass(now=later, cap=1, write_places=False)

    assert looked.due == 1
    assert (await repo.get(waiting)).next_poll_at == later  # type: ignore[union-attr]


async def test_places_are_cleared_once_nothing_limits_the_queue(db: Database) -> None:
    repo = RenderRepository(db)
    running, waiting = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1))
    await repo.admit(running, now=T0, cap=1)
    await repo.queue_pass(now=T0, cap=1, write_places=True)
    assert (await repo.get(waiting)).queue_place == 1  # type: ignore[union-attr]

    looked = await repo.queue_pass(now=T0, cap=None, write_places=True)

    assert [r.queue_place for r in looked.moved] == [None]


async def test_a_members_waiting_renders_come_first_in_line_first(
    db: Database, second_process: RenderRepository
) -> None:
    repo = RenderRepository(db)
    running, take_1, take_2, other = await queue_of(
        repo, (GUILD, MEMBER_2, 1), (GUILD, MEMBER_1, 2), (GUILD, MEMBER_3, 1)
    )
    await repo.admit(running, now=T0, cap=1)
    await repo.queue_pass(now=T0, cap=1, write_places=True)

    # Read by another process, as after a restart: the places are in the database.
    mine = await second_process.waiting_renders(GUILD, MEMBER_1)

    assert [(r.id, r.queue_place) for r in mine] == [(take_1, 1), (take_2, 3)]
    assert (await second_process.get(other)).queue_place == 2  # type: ignore[union-attr]


# ---- cancel ----------------------------------------------------------------------------------------------


async def test_cancelling_a_waiting_render_fails_it_refunded_as_cancelled_by_whom(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo, user_id=MEMBER_1, cost=7)
    await repo.claim_due("tracker", now=T0, limit=1, lease_seconds=60)
    later = T0 + timedelta(seconds=40)

    cancelled = await repo.cancel_waiting(render.id, guild_id=GUILD, by=MEMBER_2, now=later)

    assert cancelled is not None
    assert (cancelled.state, cancelled.failure_kind, cancelled.decided_by) == (
        RenderState.FAILED,
        FailureKind.CANCELLED,
        MEMBER_2,
    )
    assert (cancelled.next_poll_at, cancelled.lease_owner) == (later, None)
    assert (await repo.member_snapshot(GUILD, MEMBER_1, T0)).member_used_today == 0
    assert await repo.cancel_waiting(render.id, guild_id=GUILD, by=MEMBER_2, now=later) is None


async def test_a_render_held_for_approval_can_be_cancelled(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo, state=RenderState.AWAITING_APPROVAL)

    assert await repo.cancel_waiting(render.id, guild_id=GUILD, by=MEMBER_1, now=T0) is not None


async def test_a_render_already_being_sent_or_of_another_guild_is_not_cancelled(db: Database) -> None:
    repo = RenderRepository(db)
    sent, other = await queue_of(repo, (GUILD, MEMBER_1, 1), (GUILD, MEMBER_2, 1))
    await repo.admit(sent, now=T0, cap=None)

    assert await repo.cancel_waiting(sent, guild_id=GUILD, by=MEMBER_1, now=T0) is None
    assert await repo.cancel_waiting(other, guild_id=OTHER_GUILD, by=MEMBER_1, now=T0) is None
    assert (await repo.get(sent)).state is RenderState.SUBMITTING  # type: ignore[union-attr]
    assert (await repo.get(other)).state is RenderState.ACCEPTED  # type: ignore[union-attr]


async def test_the_wait_before_the_api_is_measured_for_the_metrics(db: Database) -> None:
    repo = RenderRepository(db)
    [render_id] = await queue_of(repo, (GUILD, MEMBER_1, 1))
    labels = {"model": "kling-v3"}
    before = REGISTRY.get_sample_value("videobot_queue_wait_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("videobot_queue_wait_seconds_sum", labels) or 0.0

    await repo.admit(render_id, now=T0 + timedelta(seconds=90), cap=1)

    assert REGISTRY.get_sample_value("videobot_queue_wait_seconds_count", labels) == before + 1
    assert REGISTRY.get_sample_value("videobot_queue_wait_seconds_sum", labels) == total + 90
