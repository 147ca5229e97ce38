from __future__ import annotations

import asyncio
from datetime import timedelta

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
