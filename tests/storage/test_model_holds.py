"""Models kept off after `model_not_found`: held until a moment, forgotten after it."""

from __future__ import annotations

from datetime import timedelta

from bot.storage.db import Database
from bot.storage.meta import MetaRepository
from bot.storage.model_holds import ModelHolds
from tests.storage.builders import T0

HALF_HOUR = timedelta(minutes=30)


async def test_nothing_is_held_at_first(db: Database) -> None:
    assert await ModelHolds(db).active(T0) == {}


async def test_a_held_model_is_active_until_its_time(db: Database) -> None:
    holds = ModelHolds(db)

    await holds.hold("veo-3.1", T0 + HALF_HOUR)

    assert await holds.active(T0) == {"veo-3.1": T0 + HALF_HOUR}
    assert await holds.active(T0 + HALF_HOUR - timedelta(seconds=1)) == {"veo-3.1": T0 + HALF_HOUR}


async def test_every_process_on_the_database_sees_the_hold(db: Database) -> None:
    await ModelHolds(db).hold("veo-3.1", T0 + HALF_HOUR)

    assert await ModelHolds(db).active(T0) == {"veo-3.1": T0 + HALF_HOUR}


async def test_holding_again_moves_the_time(db: Database) -> None:
    holds = ModelHolds(db)
    await holds.hold("veo-3.1", T0 + HALF_HOUR)

    await holds.hold("veo-3.1", T0 + 2 * HALF_HOUR)

    assert await holds.active(T0) == {"veo-3.1": T0 + 2 * HALF_HOUR}


async def test_several_models_are_held_each_with_its_own_time(db: Database) -> None:
    holds = ModelHolds(db)

    await holds.hold("veo-3.1", T0 + HALF_HOUR)
    await holds.hold("wan-2.6", T0 + 2 * HALF_HOUR)

    assert await holds.active(T0 + HALF_HOUR) == {"wan-2.6": T0 + 2 * HALF_HOUR}


async def test_an_expired_hold_is_forgotten(db: Database) -> None:
    holds = ModelHolds(db)
    await holds.hold("veo-3.1", T0 + HALF_HOUR)

    assert await holds.active(T0 + HALF_HOUR) == {}
    # Gone from storage, not only filtered: an earlier moment no longer sees it either.
    assert await holds.active(T0) == {}
    assert await MetaRepository(db).get("model_hold:veo-3.1") is None


async def test_other_settings_in_the_shared_table_are_not_holds(db: Database) -> None:
    meta = MetaRepository(db)
    await meta.set("commands_hash", "abc")
    # "_" is a LIKE wildcard: a key differing from the prefix only there must not be read as a hold.
    await meta.set("modelXhold:veo-3.1", "not a time")

    assert await ModelHolds(db).active(T0) == {}
    assert await meta.get("commands_hash") == "abc"
    assert await meta.get("modelXhold:veo-3.1") == "not a time"


async def test_a_hold_that_is_not_a_time_counts_as_over(db: Database) -> None:
    await MetaRepository(db).set("model_hold:veo-3.1", "soon")

    assert await ModelHolds(db).active(T0) == {}
    assert await MetaRepository(db).get("model_hold:veo-3.1") is None
