from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.db import Database
from tests.storage.databases import ENGINES, open_database


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(engine_name: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each engine."""
    async with open_database(engine_name, tmp_path) as database:
        yield database


@pytest.fixture
async def blank_db(engine_name: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database with no schema at all."""
    async with open_database(engine_name, tmp_path, migrate=False) as database:
        yield database
