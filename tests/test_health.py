"""The health server as a scraper sees it: /metrics over HTTP, with renders counted from a real database.

The chat side is a small stand-in (guilds, latency, the tracker's waiting polls); the renders are real rows in
SQLite (and PostgreSQL when TEST_POSTGRES_URL is set). tests/e2e/test_operator_view.py scrapes the real bot.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.states import RenderState
from bot.health import HealthServer
from bot.storage.db import Database
from bot.storage.renders import RenderRepository
from tests.storage.builders import T0, add_render
from tests.storage.databases import ENGINES, open_database


@dataclass
class Tracker:
    polls_waiting: int = 0


@dataclass
class Bot:
    """What the health server reads of the bot."""

    renders: RenderRepository
    guilds: list[object] = field(default_factory=list)
    latency: float = float("nan")
    ready: bool = True
    tracker: Tracker = field(default_factory=Tracker)

    @property
    def services(self) -> SimpleNamespace:
        return SimpleNamespace(renders=self.renders, tracker=self.tracker)

    def is_ready(self) -> bool:
        return self.ready

    def is_closed(self) -> bool:
        return False


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(engine: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(engine, tmp_path) as database:
        yield database


@pytest.fixture
async def blank_db(engine: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A database without the renders table: every query fails, as on one that went away."""
    async with open_database(engine, tmp_path / "blank", migrate=False) as database:
        yield database


@pytest.fixture
async def served(db: Database) -> AsyncIterator[tuple[Bot, str]]:
    bot = Bot(RenderRepository(db))
    server = HealthServer(bot, port=0)  # type: ignore[arg-type]
    await server.start()
    try:
        yield bot, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def get(url: str, **headers: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, response.headers["Content-Type"], await response.text()


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(series name, labels) -> value, parsed as Prometheus parses it."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def renders_in(scraped: dict[Any, float], state: RenderState) -> float | None:
    return scraped.get(("videobot_renders", (("state", state.value),)))


async def test_metrics_count_open_renders_by_state_from_the_database(served: tuple[Bot, str]) -> None:
    bot, base = served
    repo = bot.renders
    await add_render(repo, takes=2)
    [rendering] = await add_render(repo)
    for state in (RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING):
        assert await repo.move(rendering.id, state, now=T0)
    [closed] = await add_render(repo)
    await repo.update(closed.id, now=T0, closed=True)

    status, content_type, body = await get(f"{base}/metrics")

    assert status == 200
    assert content_type.startswith("text/plain")
    scraped = samples(body)
    assert renders_in(scraped, RenderState.ACCEPTED) == 2
    assert renders_in(scraped, RenderState.RENDERING) == 1
    assert renders_in(scraped, RenderState.DELIVERED) == 0  # every state is there, with none at 0
    assert scraped[("videobot_renders_open", ())] == 3


async def test_metrics_show_this_processs_guilds_latency_and_waiting_polls(served: tuple[Bot, str]) -> None:
    bot, base = served
    bot.guilds = [object(), object(), object()]
    bot.latency = 0.125
    bot.tracker.polls_waiting = 4

    scraped = samples((await get(f"{base}/metrics"))[2])

    assert scraped[("videobot_guilds", ())] == 3
    assert scraped[("videobot_gateway_latency_seconds", ())] == 0.125
    assert scraped[("videobot_status_calls_waiting", ())] == 4
    # Series counted elsewhere are served from the same registry, the process's own too.
    assert ("videobot_status_calls_total", ()) in scraped
    assert scraped[("process_resident_memory_bytes", ())] > 0


async def test_latency_before_the_first_heartbeat_is_no_value_rather_than_zero(served: tuple[Bot, str]) -> None:
    _, base = served

    scraped = samples((await get(f"{base}/metrics"))[2])

    assert math.isnan(scraped[("videobot_gateway_latency_seconds", ())])


async def test_a_scraper_asking_for_openmetrics_gets_it(served: tuple[Bot, str]) -> None:
    _, base = served

    status, content_type, body = await get(f"{base}/metrics", Accept="application/openmetrics-text; version=1.0.0")

    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")


async def test_when_the_database_fails_the_render_series_go_away_and_the_rest_is_served(
    served: tuple[Bot, str], blank_db: Database
) -> None:
    bot, base = served
    await add_render(bot.renders)
    assert renders_in(samples((await get(f"{base}/metrics"))[2]), RenderState.ACCEPTED) == 1
    bot.renders = RenderRepository(blank_db)
    bot.guilds = [object()]

    status, _, body = await get(f"{base}/metrics")

    assert status == 200
    scraped = samples(body)
    assert renders_in(scraped, RenderState.ACCEPTED) is None  # not last scrape's figure passed off as current
    assert math.isnan(scraped[("videobot_renders_open", ())])
    assert scraped[("videobot_guilds", ())] == 1
    health_status, _, health = await get(f"{base}/healthz")
    assert health_status == 503 and '"database": "unreachable"' in health
