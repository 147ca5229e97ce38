"""Finding renders again: `/video history` pages and `/video show` lookups on the real engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.domain.render import RenderRecord
from bot.services.history import (
    Direction,
    HistoryFilter,
    HistoryPage,
    HistoryService,
    LookupProblem,
    Viewer,
    parse_render_id,
)
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import CHANNEL, GUILD, T0, USER, add_render
from tests.storage.databases import ENGINES, open_database

ON_EVERY_ENGINE = pytest.mark.parametrize("db", ENGINES, indirect=True)
OTHER_GUILD = GUILD + 1
OTHER_CHANNEL = CHANNEL + 1
HIDDEN_CHANNEL = CHANNEL + 2
BOB = USER + 1
EVERYWHERE = Viewer(USER, None)


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(getattr(request, "param", "sqlite"), tmp_path) as database:
        yield database


@pytest.fixture
def repo(db: Database) -> RenderRepository:
    return RenderRepository(db)


@pytest.fixture
def service(repo: RenderRepository) -> HistoryService:
    return HistoryService(repo)


async def make(repo: RenderRepository, count: int, *, start: int = 0, **fields: Any) -> list[RenderRecord]:
    """`count` renders one minute apart (the later, the newer), prompts numbered from `start`."""
    made: list[RenderRecord] = []
    for n in range(start, start + count):
        made += await add_render(repo, now=T0 + timedelta(minutes=n), prompt=f"prompt {n}", **fields)
    return made


def prompts(page: HistoryPage) -> list[str]:
    return [render.request.prompt for render in page.entries]


async def next_page(
    service: HistoryService, filters: HistoryFilter, page: HistoryPage, viewer: Viewer = EVERYWHERE
) -> HistoryPage:
    return await service.page(
        filters, viewer, cursor=page.entries[-1].id, direction=Direction.NEXT, number=page.number + 1
    )


async def previous_page(
    service: HistoryService, filters: HistoryFilter, page: HistoryPage, viewer: Viewer = EVERYWHERE
) -> HistoryPage:
    return await service.page(
        filters, viewer, cursor=page.entries[0].id, direction=Direction.PREVIOUS, number=page.number - 1
    )


# ---- paging ----------------------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_pages_list_ten_renders_newest_first_and_next_goes_on_where_the_last_ended(
    repo: RenderRepository, service: HistoryService
) -> None:
    await make(repo, 25)
    everything = HistoryFilter(GUILD)

    first = await service.page(everything, EVERYWHERE)
    second = await next_page(service, everything, first)
    third = await next_page(service, everything, second)

    assert prompts(first) == [f"prompt {n}" for n in range(24, 14, -1)]
    assert prompts(second) == [f"prompt {n}" for n in range(14, 4, -1)]
    assert prompts(third) == [f"prompt {n}" for n in range(4, -1, -1)]
    assert [(p.number, p.has_previous, p.has_next) for p in (first, second, third)] == [
        (1, False, True),
        (2, True, True),
        (3, True, False),
    ]


@ON_EVERY_ENGINE
async def test_previous_returns_the_same_pages_back_to_the_first(
    repo: RenderRepository, service: HistoryService
) -> None:
    await make(repo, 25)
    everything = HistoryFilter(GUILD)
    first = await service.page(everything, EVERYWHERE)
    second = await next_page(service, everything, first)
    third = await next_page(service, everything, second)

    back_to_second = await previous_page(service, everything, third)
    back_to_first = await previous_page(service, everything, back_to_second)

    assert prompts(back_to_second) == prompts(second)
    assert (back_to_second.number, back_to_second.has_previous, back_to_second.has_next) == (2, True, True)
    assert prompts(back_to_first) == prompts(first)
    assert (back_to_first.number, back_to_first.has_previous) == (1, False)


@ON_EVERY_ENGINE
async def test_renders_made_at_the_same_moment_are_each_listed_once(
    repo: RenderRepository, service: HistoryService
) -> None:
    # Takes of one request share their creation time: the id breaks the tie, so paging neither skips nor repeats.
    for n in range(3):
        await add_render(repo, now=T0 + timedelta(minutes=n), takes=4, prompt=f"request {n}")
    everything = HistoryFilter(GUILD)

    first = await service.page(everything, EVERYWHERE)
    second = await next_page(service, everything, first)

    listed = [r.id for r in first.entries + second.entries]
    assert len(listed) == len(set(listed)) == 12
    assert not second.has_next
    assert prompts(first)[:4] == ["request 2"] * 4


@ON_EVERY_ENGINE
async def test_renders_made_meanwhile_do_not_shift_the_next_page(
    repo: RenderRepository, service: HistoryService
) -> None:
    await make(repo, 15)
    everything = HistoryFilter(GUILD)
    first = await service.page(everything, EVERYWHERE)

    await make(repo, 3, start=100)
    second = await next_page(service, everything, first)

    assert prompts(second) == [f"prompt {n}" for n in range(4, -1, -1)]


@ON_EVERY_ENGINE
async def test_previous_after_renders_made_meanwhile_leads_on_to_them_then_to_the_newest_page_whole(
    repo: RenderRepository, service: HistoryService
) -> None:
    await make(repo, 15)
    everything = HistoryFilter(GUILD)
    first = await service.page(everything, EVERYWHERE)
    second = await next_page(service, everything, first)
    await make(repo, 3, start=100)

    back = await previous_page(service, everything, second)
    newest = await previous_page(service, everything, back)

    assert prompts(back) == prompts(first)
    assert back.has_previous
    assert prompts(newest) == ["prompt 102", "prompt 101", "prompt 100"] + [f"prompt {n}" for n in range(14, 7, -1)]
    assert (newest.number, newest.has_previous, newest.has_next) == (1, False, True)


# ---- filters and boundaries --------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_member_filter_lists_only_that_members_renders(repo: RenderRepository, service: HistoryService) -> None:
    await make(repo, 12, user_id=USER)
    await make(repo, 12, start=50, user_id=BOB)
    bobs = HistoryFilter(GUILD, member_id=BOB)

    first = await service.page(bobs, EVERYWHERE)
    second = await next_page(service, bobs, first)

    assert {r.user_id for r in first.entries + second.entries} == {BOB}
    assert prompts(first) + prompts(second) == [f"prompt {n}" for n in range(61, 49, -1)]
    assert not second.has_next


@ON_EVERY_ENGINE
async def test_channel_filter_lists_that_channel_and_renders_whose_thread_it_is(
    repo: RenderRepository, service: HistoryService
) -> None:
    here = await make(repo, 2, channel_id=CHANNEL)
    await make(repo, 2, start=10, channel_id=OTHER_CHANNEL)
    thread_id = OTHER_CHANNEL + 100
    (threaded,) = await make(repo, 1, start=20, channel_id=OTHER_CHANNEL)
    await repo.update(threaded.id, now=T0, thread_id=thread_id)

    in_channel = await service.page(HistoryFilter(GUILD, channel_id=CHANNEL), EVERYWHERE)
    in_thread = await service.page(HistoryFilter(GUILD, channel_id=thread_id), EVERYWHERE)

    assert [r.id for r in in_channel.entries] == [here[1].id, here[0].id]
    assert [r.id for r in in_thread.entries] == [threaded.id]


@ON_EVERY_ENGINE
async def test_another_servers_renders_are_never_listed_nor_paged_from(
    repo: RenderRepository, service: HistoryService
) -> None:
    ours = await make(repo, 3, guild_id=GUILD)
    theirs = await make(repo, 12, start=10, guild_id=OTHER_GUILD)
    everything = HistoryFilter(GUILD)

    first = await service.page(everything, EVERYWHERE)
    # A crafted button paging from the other server's render: the first page of this server, nothing of theirs.
    crafted = await service.page(everything, EVERYWHERE, cursor=theirs[5].id, direction=Direction.NEXT, number=4)

    assert [r.id for r in first.entries] == [r.id for r in reversed(ours)]
    assert [r.id for r in crafted.entries] == [r.id for r in reversed(ours)]
    assert crafted.number == 1


@ON_EVERY_ENGINE
async def test_renders_in_channels_hidden_from_the_member_are_left_out_unless_theirs(
    repo: RenderRepository, service: HistoryService
) -> None:
    (visible,) = await make(repo, 1, channel_id=CHANNEL, user_id=BOB)
    await make(repo, 1, start=1, channel_id=HIDDEN_CHANNEL, user_id=BOB)
    (own_hidden,) = await make(repo, 1, start=2, channel_id=HIDDEN_CHANNEL, user_id=USER)
    member = Viewer(USER, frozenset({CHANNEL}))

    page = await service.page(HistoryFilter(GUILD), member)

    assert [r.id for r in page.entries] == [own_hidden.id, visible.id]


@ON_EVERY_ENGINE
async def test_an_empty_history_is_one_page_with_nothing_on_it(repo: RenderRepository, service: HistoryService) -> None:
    await make(repo, 2, guild_id=OTHER_GUILD)

    page = await service.page(HistoryFilter(GUILD), EVERYWHERE)

    assert (page.entries, page.has_previous, page.has_next) == ((), False, False)


# ---- /video show --------------------------------------------------------------------------------------------------


@ON_EVERY_ENGINE
async def test_show_finds_a_render_by_its_short_id_or_its_whole_id(
    repo: RenderRepository, service: HistoryService
) -> None:
    (render,) = await make(repo, 1)
    await make(repo, 3, start=1)

    by_short = await service.find(GUILD, EVERYWHERE, render.id[:8])
    by_card_text = await service.find(GUILD, EVERYWHERE, f"  Request {render.id[:8].upper()} ")
    by_whole = await service.find(GUILD, EVERYWHERE, render.id)

    assert by_short.render is not None and by_short.render.id == render.id
    assert by_card_text.render is not None and by_card_text.render.id == render.id
    assert by_whole.render is not None and by_whole.render.id == render.id


@ON_EVERY_ENGINE
async def test_show_of_another_servers_render_is_not_found(repo: RenderRepository, service: HistoryService) -> None:
    (theirs,) = await make(repo, 1, guild_id=OTHER_GUILD)

    short = await service.find(GUILD, EVERYWHERE, theirs.id[:8])
    whole = await service.find(GUILD, EVERYWHERE, theirs.id)

    assert (short.render, short.problem) == (None, LookupProblem.NOT_FOUND)
    assert (whole.render, whole.problem) == (None, LookupProblem.NOT_FOUND)


@ON_EVERY_ENGINE
async def test_show_of_a_render_in_a_hidden_channel_is_not_found_unless_it_is_yours(
    repo: RenderRepository, service: HistoryService
) -> None:
    (bobs,) = await make(repo, 1, channel_id=HIDDEN_CHANNEL, user_id=BOB)
    (own,) = await make(repo, 1, start=1, channel_id=HIDDEN_CHANNEL, user_id=USER)
    member = Viewer(USER, frozenset({CHANNEL}))

    assert (await service.find(GUILD, member, bobs.id[:8])).problem is LookupProblem.NOT_FOUND
    found = await service.find(GUILD, member, own.id[:8])
    assert found.render is not None and found.render.id == own.id


@ON_EVERY_ENGINE
async def test_show_of_a_short_id_two_renders_share_asks_for_more(
    db: Database, repo: RenderRepository, service: HistoryService
) -> None:
    first, second = await make(repo, 2)
    twin = first.id[:8] + "f" * 24
    async with db.write() as conn:
        await conn.execute(text("UPDATE renders SET id = :twin WHERE id = :id"), {"twin": twin, "id": second.id})

    shared = await service.find(GUILD, EVERYWHERE, first.id[:8])
    longer = await service.find(GUILD, EVERYWHERE, twin[:12])

    assert (shared.render, shared.problem, shared.wanted) == (None, LookupProblem.AMBIGUOUS, first.id[:8])
    assert longer.render is not None and longer.render.id == twin


@pytest.mark.parametrize(
    "typed", ["", "abc", "abcd123", "zzzz1234", "abcd1234 extra", "a" * 33, "<@123456789012345678>", "abcd%234"]
)
async def test_text_that_is_no_request_id_is_malformed(service: HistoryService, typed: str) -> None:
    found = await service.find(GUILD, EVERYWHERE, typed)

    assert (found.render, found.problem) == (None, LookupProblem.MALFORMED)


def test_ids_are_read_from_what_a_card_shows() -> None:
    assert parse_render_id("Request ABCD1234") == "abcd1234"
    assert parse_render_id("#abcd1234") == "abcd1234"
    assert parse_render_id("abcd1234" * 4) == "abcd1234" * 4
