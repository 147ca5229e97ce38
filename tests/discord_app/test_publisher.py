"""Discord's failures reach the services as the publisher errors they know how to handle."""

from __future__ import annotations

import aiohttp
import pytest

from bot.discord_app.publisher import translated
from bot.services.ports import PublishUnavailable


async def test_a_connection_dropped_by_discord_is_an_outage() -> None:
    async def post() -> int:
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(PublishUnavailable):
        await translated(post())
