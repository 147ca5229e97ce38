"""The group's shared messages: one card and one result message, written once, and one editor at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.storage.db import Database
from bot.storage.groups import GroupRecord, GroupRepository
from bot.storage.renders import RenderRepository
from tests.storage.builders import T0, add_render

LATER = T0 + timedelta(minutes=1)


async def test_a_group_nothing_was_shown_for_has_no_result_message(db: Database) -> None:
    assert await GroupRepository(db).get("0" * 32) == GroupRecord("0" * 32)


async def test_the_card_is_recorded_for_every_take_and_only_once(db: Database) -> None:
    repo, groups = RenderRepository(db), GroupRepository(db)
    takes = await add_render(repo, takes=3)
    group = takes[0].group_id

    first = await groups.set_first_card(group, 111, now=T0, shown={t.id: f"h{t.take_index}" for t in takes})
    second = await groups.set_first_card(group, 222, now=T0, shown={takes[0].id: "other"})

    assert (first, second) == (True, False)
    stored = await repo.list_group(group)
    assert [(t.status_message_id, t.shown_hash) for t in stored] == [(111, "h1"), (111, "h2"), (111, "h3")]


async def test_a_take_with_a_card_of_its_own_makes_the_group_card_lose(db: Database) -> None:
    # A group from before cards were shared: one take already has a card, so no second card may be recorded.
    repo, groups = RenderRepository(db), GroupRepository(db)
    takes = await add_render(repo, takes=2)
    await repo.set_first_status_message(takes[1].id, 99, now=T0)

    assert not await groups.set_first_card(takes[0].group_id, 111, now=T0, shown={})
    assert [t.status_message_id for t in await repo.list_group(takes[0].group_id)] == [None, 99]


async def test_concurrent_first_cards_record_exactly_one(db: Database) -> None:
    repo, groups = RenderRepository(db), GroupRepository(db)
    takes = await add_render(repo, takes=4)
    group = takes[0].group_id

    won = await asyncio.gather(*(groups.set_first_card(group, 500 + n, now=T0, shown={}) for n in range(6)))

    assert sum(won) == 1
    ids = {t.status_message_id for t in await repo.list_group(group)}
    assert ids == {500 + won.index(True)}


async def test_a_card_posted_again_moves_every_take(db: Database) -> None:
    repo, groups = RenderRepository(db), GroupRepository(db)
    takes = await add_render(repo, takes=2)
    await groups.set_first_card(takes[0].group_id, 111, now=T0, shown={})

    await groups.move_card(takes[0].group_id, 333, now=LATER, shown={takes[1].id: "seen"})

    stored = await repo.list_group(takes[0].group_id)
    assert [(t.status_message_id, t.shown_hash) for t in stored] == [(333, None), (333, "seen")]


async def test_the_result_message_is_recorded_once_and_replaced_only_when_it_is_the_one_known(db: Database) -> None:
    groups = GroupRepository(db)
    group = "a" * 32

    assert await groups.set_first_gallery(group, 10, now=T0, shown="one")
    assert not await groups.set_first_gallery(group, 11, now=T0, shown="two")
    assert not await groups.replace_gallery(group, 11, 12, now=T0, shown="two")  # 11 was never the one
    assert await groups.replace_gallery(group, 10, 13, now=T0, shown="three")

    assert await groups.get(group) == GroupRecord(group, gallery_message_id=13, gallery_shown="three")


async def test_concurrent_first_results_record_exactly_one(db: Database) -> None:
    groups = GroupRepository(db)

    won = await asyncio.gather(*(groups.set_first_gallery("b" * 32, 700 + n, now=T0, shown="s") for n in range(6)))

    assert sum(won) == 1
    assert (await groups.get("b" * 32)).gallery_message_id == 700 + won.index(True)


async def test_one_editor_at_a_time_until_it_releases_or_its_lease_runs_out(db: Database) -> None:
    groups = GroupRepository(db)
    group = "c" * 32
    until = T0 + timedelta(minutes=5)

    assert await groups.take(group, "gallery", "take-1", now=T0, until=until)
    assert await groups.take(group, "gallery", "take-1", now=T0, until=until)  # its own again
    assert not await groups.take(group, "gallery", "take-2", now=T0, until=until)
    assert await groups.take(group, "card", "take-2", now=T0, until=until)  # the card is held apart
    await groups.release(group, "gallery", "take-2", now=T0)  # not its lease: nothing happens
    assert not await groups.take(group, "gallery", "take-3", now=LATER, until=until)

    await groups.release(group, "gallery", "take-1", now=T0)
    assert await groups.take(group, "gallery", "take-3", now=LATER, until=until)
    # take-3 dies holding it: after its lease runs out another may edit.
    assert await groups.take(group, "gallery", "take-4", now=until + timedelta(seconds=1), until=until)


async def test_concurrent_editors_get_one_lease(db: Database) -> None:
    groups = GroupRepository(db)
    until = T0 + timedelta(minutes=5)

    held = await asyncio.gather(*(groups.take("d" * 32, "gallery", f"take-{n}", now=T0, until=until) for n in range(6)))

    assert sum(held) == 1


async def test_deleted_takes_are_remembered(db: Database) -> None:
    groups = GroupRepository(db)

    await groups.remove("e" * 32, "render-1", now=T0)
    await groups.remove("e" * 32, "render-2", now=T0)
    await groups.remove("e" * 32, "render-1", now=T0)

    assert (await groups.get("e" * 32)).removed == {"render-1", "render-2"}
