from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage.db import Database
from bot.storage.images import PURGE_BATCH, ImageStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_stored_image_comes_back_with_its_mime(db: Database) -> None:
    store = ImageStore(db)

    await store.put("a" * 64, PNG, "image/png")

    assert await store.get("a" * 64) == (PNG, "image/png")


async def test_putting_the_same_image_twice_keeps_one_copy(db: Database) -> None:
    store = ImageStore(db)

    await store.put("a" * 64, PNG, "image/png")
    await store.put("a" * 64, PNG, "image/png")

    assert await store.get("a" * 64) == (PNG, "image/png")


async def test_missing_image_is_none(db: Database) -> None:
    assert await ImageStore(db).get("f" * 64) is None


async def test_get_many_returns_the_stored_ones(db: Database) -> None:
    store = ImageStore(db)
    await store.put("a" * 64, b"first", "image/png")
    await store.put("b" * 64, b"second", "image/jpeg")

    assert await store.get_many(["a" * 64, "b" * 64, "c" * 64]) == {"a" * 64: b"first", "b" * 64: b"second"}
    assert await store.get_many([]) == {}


# ---- claims and the purge ------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
A, B, C = "a" * 64, "b" * 64, "c" * 64


async def stored(store: ImageStore) -> set[str]:
    return set(await store.get_many([A, B, C]))


async def test_storing_a_stored_image_again_claims_it_anew(db: Database) -> None:
    store = ImageStore(db)
    await store.put(A, PNG, "image/png", now=T0)

    await store.put(A, PNG, "image/png", now=T0 + timedelta(hours=2))

    # Claimed two hours on: a purge of what was claimed before T0 + 1 h leaves it.
    assert await store.delete_unused(set(), claimed_before=T0 + timedelta(hours=1)) == 0
    assert await store.get(A) == (PNG, "image/png")


async def test_claim_says_which_images_are_not_stored(db: Database) -> None:
    store = ImageStore(db)
    await store.put(A, PNG, "image/png", now=T0)

    missing = await store.claim([A, B], now=T0 + timedelta(days=1))

    assert missing == {B}
    assert await store.delete_unused(set(), claimed_before=T0 + timedelta(hours=23)) == 0
    assert await store.claim([], now=T0) == set()


async def test_delete_unused_keeps_images_in_use_and_those_claimed_since(db: Database) -> None:
    store = ImageStore(db)
    for sha in (A, B):
        await store.put(sha, PNG, "image/png", now=T0)
    await store.put(C, PNG, "image/png", now=T0 + timedelta(hours=2))

    deleted = await store.delete_unused({B}, claimed_before=T0 + timedelta(hours=1))

    assert deleted == 1
    assert await stored(store) == {B, C}


async def test_delete_unused_works_through_more_images_than_one_batch(db: Database) -> None:
    store = ImageStore(db)
    shas = [f"{n:064x}" for n in range(PURGE_BATCH + 3)]
    for sha in shas:
        await store.put(sha, b"x", "image/png", now=T0)

    deleted = await store.delete_unused({shas[0]}, claimed_before=T0 + timedelta(seconds=1))

    assert deleted == PURGE_BATCH + 2
    assert set(await store.get_many(shas)) == {shas[0]}
