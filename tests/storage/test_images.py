from __future__ import annotations

from bot.storage.db import Database
from bot.storage.images import ImageStore

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
