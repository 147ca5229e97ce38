from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.domain.states import RenderState
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import T0, add_render

LEASE = 60.0


async def test_claim_leases_due_renders_oldest_first_up_to_the_limit(db: Database) -> None:
    repo = RenderRepository(db)
    newest = await add_render(repo, now=T0 + timedelta(seconds=2))
    oldest = await add_render(repo, now=T0)
    middle = await add_render(repo, now=T0 + timedelta(seconds=1))
    now = T0 + timedelta(seconds=5)

    claimed = await repo.claim_due("a", now=now, limit=2, lease_seconds=LEASE)

    assert [r.id for r in claimed] == [oldest[0].id, middle[0].id]
    assert {(r.lease_owner, r.lease_until) for r in claimed} == {("a", now + timedelta(seconds=LEASE))}
    assert (await repo.get(newest[0].id)).lease_owner is None  # type: ignore[union-attr]


async def test_claim_skips_renders_not_due_yet(db: Database) -> None:
    repo = RenderRepository(db)
    await add_render(repo, now=T0 + timedelta(seconds=10))

    assert await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE) == []


async def test_claim_skips_closed_renders(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.update(render.id, now=T0, closed=True)

    assert await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE) == []


async def test_render_leased_by_another_owner_is_not_claimed(db: Database) -> None:
    repo = RenderRepository(db)
    await add_render(repo)
    await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE)

    assert await repo.claim_due("b", now=T0 + timedelta(seconds=30), limit=10, lease_seconds=LEASE) == []


async def test_owner_can_claim_its_own_leased_render_again(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE)

    again = await repo.claim_due("a", now=T0 + timedelta(seconds=30), limit=10, lease_seconds=LEASE)

    assert [r.id for r in again] == [render.id]


async def test_expired_lease_lets_another_owner_claim(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE)

    claimed = await repo.claim_due("b", now=T0 + timedelta(seconds=LEASE + 1), limit=10, lease_seconds=LEASE)

    assert [(r.id, r.lease_owner) for r in claimed] == [(render.id, "b")]


async def test_release_clears_the_lease_and_sets_the_next_poll(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE)
    next_poll = T0 + timedelta(seconds=10)

    await repo.release(render.id, "a", next_poll_at=next_poll)

    stored = await repo.get(render.id)
    assert stored is not None
    assert (stored.lease_owner, stored.lease_until, stored.next_poll_at) == (None, None, next_poll)
    assert await repo.claim_due("b", now=T0 + timedelta(seconds=5), limit=10, lease_seconds=LEASE) == []
    assert len(await repo.claim_due("b", now=next_poll, limit=10, lease_seconds=LEASE)) == 1


async def test_release_by_a_former_owner_leaves_the_new_lease(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE)
    await repo.claim_due("b", now=T0 + timedelta(seconds=LEASE + 1), limit=10, lease_seconds=LEASE)

    await repo.release(render.id, "a", next_poll_at=T0)

    stored = await repo.get(render.id)
    assert stored is not None
    assert stored.lease_owner == "b"


async def test_concurrent_claims_never_hand_one_render_to_two_owners(db: Database, engine_name: str) -> None:
    repo = RenderRepository(db)
    for i in range(30):
        await add_render(repo, now=T0 + timedelta(milliseconds=i))
    now = T0 + timedelta(seconds=1)

    results = await asyncio.gather(
        *(repo.claim_due(f"owner-{i}", now=now, limit=5, lease_seconds=LEASE) for i in range(10))
    )

    claimed_ids = [r.id for claim in results for r in claim]
    print(f"\n[{engine_name}] 10 concurrent claim_due(limit=5) over 30 due renders: {len(claimed_ids)} claims")
    assert len(claimed_ids) == len(set(claimed_ids))
    for owner, claim in enumerate(results):
        for render in claim:
            stored = await repo.get(render.id)
            assert stored is not None
            assert stored.lease_owner == f"owner-{owner}"


async def test_release_keeps_the_steps_next_look_when_the_state_is_as_it_saw_it(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE)

    later = T0 + timedelta(hours=1)
    await repo.release(render.id, "a", next_poll_at=later, seen_state=render.state, now=T0)

    assert (await repo.get(render.id)).next_poll_at == later  # type: ignore[union-attr]


async def test_release_makes_a_render_due_now_when_its_state_changed_under_the_step(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo, state=RenderState.AWAITING_APPROVAL)
    await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE)
    await repo.move(render.id, RenderState.ACCEPTED, now=T0)  # a moderator approved meanwhile

    await repo.release(
        render.id, "a", next_poll_at=T0 + timedelta(hours=1), seen_state=RenderState.AWAITING_APPROVAL, now=T0
    )

    assert (await repo.get(render.id)).next_poll_at == T0  # type: ignore[union-attr]


async def test_extend_lease_only_for_the_owner(db: Database) -> None:
    repo = RenderRepository(db)
    [render] = await add_render(repo)
    await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE)
    until = T0 + timedelta(minutes=30)

    assert await repo.extend_lease(render.id, "a", until=until)
    assert not await repo.extend_lease(render.id, "b", until=until + timedelta(hours=1))
    assert (await repo.get(render.id)).lease_until == until  # type: ignore[union-attr]


# ---- lanes and due order (issue 11) ---------------------------------------------------------------------------

POLLING = frozenset({RenderState.QUEUED, RenderState.RENDERING})


async def submitted_render(repo: RenderRepository, *, submitted: datetime, due: datetime) -> str:
    """A render sent to the API at `submitted`, being polled, next looked at `due`."""
    [render] = await add_render(repo, now=submitted)
    await repo.move(render.id, RenderState.SUBMITTING, now=submitted)
    await repo.move(render.id, RenderState.QUEUED, now=submitted, task_id=f"task-{render.id}", submitted_at=submitted)
    await repo.update(render.id, now=submitted, next_poll_at=due)
    return render.id


async def test_claim_takes_only_the_states_asked_for(db: Database) -> None:
    repo = RenderRepository(db)
    [accepted] = await add_render(repo)
    polled = await submitted_render(repo, submitted=T0, due=T0)
    now = T0 + timedelta(seconds=1)

    polls = await repo.claim_due("a", now=now, limit=10, lease_seconds=LEASE, states=POLLING)
    work = await repo.claim_due("a", now=now, limit=10, lease_seconds=LEASE, states={RenderState.ACCEPTED})

    assert [r.id for r in polls] == [polled]
    assert [r.id for r in work] == [accepted.id]


async def test_claim_of_no_states_takes_nothing(db: Database) -> None:
    repo = RenderRepository(db)
    await add_render(repo)

    assert await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE, states=()) == []


async def test_oldest_first_claims_by_submission_not_by_due_time(db: Database) -> None:
    repo = RenderRepository(db)
    # The youngest has been due the longest: longest-due-first would take it first.
    young = await submitted_render(repo, submitted=T0 + timedelta(seconds=20), due=T0 + timedelta(seconds=21))
    old = await submitted_render(repo, submitted=T0, due=T0 + timedelta(seconds=29))
    middle = await submitted_render(repo, submitted=T0 + timedelta(seconds=10), due=T0 + timedelta(seconds=25))
    now = T0 + timedelta(seconds=30)

    claimed = await repo.claim_due("a", now=now, limit=2, lease_seconds=LEASE, states=POLLING, oldest_first=True)

    assert [r.id for r in claimed] == [old, middle]
    assert (await repo.get(young)).lease_owner is None  # type: ignore[union-attr]


async def test_longest_due_first_is_still_the_default(db: Database) -> None:
    repo = RenderRepository(db)
    young = await submitted_render(repo, submitted=T0 + timedelta(seconds=20), due=T0 + timedelta(seconds=21))
    old = await submitted_render(repo, submitted=T0, due=T0 + timedelta(seconds=29))

    claimed = await repo.claim_due("a", now=T0 + timedelta(seconds=30), limit=2, lease_seconds=LEASE)

    assert [r.id for r in claimed] == [young, old]


async def test_oldest_first_puts_renders_never_submitted_last(db: Database) -> None:
    repo = RenderRepository(db)
    [unsent] = await add_render(repo, now=T0 - timedelta(hours=1))
    sent = await submitted_render(repo, submitted=T0, due=T0)

    claimed = await repo.claim_due("a", now=T0, limit=10, lease_seconds=LEASE, oldest_first=True)

    assert [r.id for r in claimed] == [sent, unsent.id]


async def test_a_render_due_for_long_goes_ahead_of_older_ones(db: Database) -> None:
    repo = RenderRepository(db)
    now = T0 + timedelta(minutes=10)
    older = [await submitted_render(repo, submitted=T0 + timedelta(seconds=i), due=now) for i in range(3)]
    starved = await submitted_render(repo, submitted=T0 + timedelta(minutes=5), due=T0 + timedelta(minutes=6))
    less_starved = await submitted_render(repo, submitted=T0 + timedelta(minutes=4), due=T0 + timedelta(minutes=7))

    claimed = await repo.claim_due(
        "a",
        now=now,
        limit=3,
        lease_seconds=LEASE,
        states=POLLING,
        oldest_first=True,
        overdue_before=now - timedelta(minutes=2),
    )

    # Both were due for over two minutes: longest due first; then the oldest of the rest.
    assert [r.id for r in claimed] == [starved, less_starved, older[0]]


async def test_claim_leaves_out_the_renders_excluded(db: Database) -> None:
    repo = RenderRepository(db)
    first = await submitted_render(repo, submitted=T0, due=T0)
    second = await submitted_render(repo, submitted=T0 + timedelta(seconds=1), due=T0)
    await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE, oldest_first=True)

    # Without `exclude` the owner's own lease comes back first and takes the only place.
    again = await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE, oldest_first=True)
    other = await repo.claim_due("a", now=T0, limit=1, lease_seconds=LEASE, oldest_first=True, exclude={first})

    assert [r.id for r in again] == [first]
    assert [r.id for r in other] == [second]


async def test_concurrent_oldest_first_claims_never_hand_one_render_to_two_owners(db: Database) -> None:
    repo = RenderRepository(db)
    for i in range(30):
        await submitted_render(repo, submitted=T0 + timedelta(milliseconds=i), due=T0)
    now = T0 + timedelta(seconds=1)

    results = await asyncio.gather(
        *(
            repo.claim_due(
                f"owner-{i}",
                now=now,
                limit=5,
                lease_seconds=LEASE,
                states=POLLING,
                oldest_first=True,
                overdue_before=now - timedelta(minutes=2),
            )
            for i in range(10)
        )
    )

    claimed_ids = [r.id for claim in results for r in claim]
    assert len(claimed_ids) == len(set(claimed_ids))
