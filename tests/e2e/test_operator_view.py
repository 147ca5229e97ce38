"""What an operator sees of the running bot: a quiet start on the guilds intent alone, and /metrics scraped over
HTTP from the real process while a render is under way."""

from __future__ import annotations

import math
import socket

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import World, wait_title
from tests.e2e.test_generate import status_message

GUILDS_INTENT = 1 << 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(series name, labels) -> value, parsed as Prometheus parses it."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        body = await response.text()
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_the_bot_asks_for_the_guilds_intent_only_and_starts_without_voice_warnings(world: World) -> None:
    bot = await world.start_bot()
    reply = await world.ephemeral_reply(await world.slash("quota"))  # commands work on this intent alone

    identify = world.discord.identifies[-1]
    assert identify.intents == GUILDS_INTENT
    assert reply
    output = await bot.wait_output("logged in as")  # the whole start-up, up to on_ready
    for noise in ("PyNaCl", "davey", "voice will NOT be supported", "intent"):
        assert noise not in output


async def test_metrics_of_the_running_bot_show_a_render_in_flight(world: World) -> None:
    port = free_port()
    world.api.configure(render_polls=1_000_000)  # renders until the test ends
    await world.start_bot(HEALTH_PORT=str(port))
    await world.slash("generate", options={"prompt": "a cat surfing a wave"})
    await wait_title(world, await status_message(world), "Rendering")

    scraped = await scrape(f"http://127.0.0.1:{port}/metrics")

    assert scraped[("videobot_renders", (("state", "rendering"),))] == 1
    assert scraped[("videobot_renders", (("state", "accepted"),))] == 0
    assert scraped[("videobot_renders_open", ())] == 1
    assert scraped[("videobot_guilds", ())] == 1
    assert math.isfinite(scraped[("videobot_gateway_latency_seconds", ())])
    assert scraped[("videobot_status_calls_total", ())] >= 1
    assert scraped[("videobot_status_calls_waiting", ())] >= 0
    assert scraped[("videobot_tracker_slots", (("lane", "poll"),))] == 20
    assert scraped[("videobot_tracker_slots", (("lane", "work"),))] == 10
    assert scraped[("videobot_api_calls_total", (("call", "create"), ("outcome", "ok")))] == 1


async def test_health_and_metrics_listen_on_loopback_unless_told_otherwise(world: World) -> None:
    port = free_port()
    bot = await world.start_bot(HEALTH_PORT=str(port))
    await bot.wait_output("logged in as")  # /healthz says 200 once Discord is ready

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
        # Another loopback address reaches only a server listening on every interface.
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(f"http://127.0.0.2:{port}/healthz")
