from __future__ import annotations

from datetime import timedelta

from bot.domain.states import RenderState
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import CHANNEL, GUILD, T0, USER, add_render

OTHER_USER = USER + 1
OTHER_GUILD = GUILD + 1
YESTERDAY = T0 - timedelta(days=1)
LAST_MONTH = T0 - timedelta(days=30)  # 2026-10-25


async def _spread(repo: RenderRepository) -> None:
    await add_render(repo, now=T0, cost=5)
    await add_render(repo, now=T0, cost=3, user_id=OTHER_USER)
    await add_render(repo, now=YESTERDAY, cost=10)
    await add_render(repo, now=LAST_MONTH, cost=20)
    await add_render(repo, now=T0, cost=50, guild_id=OTHER_GUILD)
    [failed] = await add_render(repo, now=T0, cost=100)
    await repo.move(failed.id, RenderState.FAILED, now=T0)


async def test_usage_by_member_sums_charged_credits_since_a_day(db: Database) -> None:
    repo = RenderRepository(db)
    await _spread(repo)

    assert await repo.usage_by_member(GUILD, "2026-11-23") == [(USER, 15, 2), (OTHER_USER, 3, 1)]
    assert await repo.usage_by_member(GUILD, "2026-10-01") == [(USER, 35, 3), (OTHER_USER, 3, 1)]


async def test_usage_by_day_lists_each_active_day(db: Database) -> None:
    repo = RenderRepository(db)
    await _spread(repo)

    assert await repo.usage_by_day(GUILD, "2026-10-01") == [
        ("2026-10-25", 20, 1),
        ("2026-11-23", 10, 1),
        ("2026-11-24", 8, 2),
    ]


async def test_guild_spend_is_today_and_this_month(db: Database) -> None:
    repo = RenderRepository(db)
    await _spread(repo)

    assert await repo.guild_spend(GUILD, T0) == (8, 18)


async def test_member_usage_today_ignores_yesterday(db: Database) -> None:
    repo = RenderRepository(db)
    await _spread(repo)

    snapshot = await repo.member_snapshot(GUILD, USER, T0)

    assert snapshot.member_used_today == 5
    assert snapshot.member_in_flight == 3  # today's, yesterday's and last month's are all still active


async def test_in_flight_lists_active_and_undelivered_renders_of_a_guild(db: Database) -> None:
    repo = RenderRepository(db)
    [active] = await add_render(repo, now=T0)
    [succeeded] = await add_render(repo, now=T0 + timedelta(seconds=1))
    [delivered] = await add_render(repo, now=T0 + timedelta(seconds=2))
    await add_render(repo, now=T0, guild_id=OTHER_GUILD)
    for render, path in (
        (succeeded, [RenderState.SUBMITTING, RenderState.SUCCEEDED]),
        (delivered, [RenderState.SUBMITTING, RenderState.SUCCEEDED, RenderState.DELIVERED]),
    ):
        for state in path:
            await repo.move(render.id, state, now=T0)

    assert [r.id for r in await repo.in_flight(GUILD)] == [active.id, succeeded.id]
    assert len(await repo.in_flight()) == 3


async def test_count_open_counts_renders_not_closed(db: Database) -> None:
    repo = RenderRepository(db)
    [done] = await add_render(repo)
    await add_render(repo)
    await repo.update(done.id, now=T0, closed=True)

    assert await repo.count_open() == 1


async def test_recent_lists_newest_first_and_filters(db: Database) -> None:
    repo = RenderRepository(db)
    [old] = await add_render(repo, now=T0)
    [other_channel] = await add_render(repo, now=T0 + timedelta(seconds=1), channel_id=CHANNEL + 1)
    [other_user] = await add_render(repo, now=T0 + timedelta(seconds=2), user_id=OTHER_USER)

    assert [r.id for r in await repo.recent(GUILD)] == [other_user.id, other_channel.id, old.id]
    assert [r.id for r in await repo.recent(GUILD, channel_id=CHANNEL)] == [other_user.id, old.id]
    assert [r.id for r in await repo.recent(GUILD, user_id=USER, limit=1)] == [other_channel.id]
