"""Health and metrics over HTTP (HEALTH_HOST:HEALTH_PORT): what an orchestrator probes and a dashboard scrapes.

/metrics serves the bot's own registry (bot.metrics) in the format the scraper asks for. Most series are counted
where things happen; the gauges below are read at scrape time instead, from the database (renders by state, for
every process on it) and from this process (guilds, gateway latency, polls waiting for the status-call cap).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.domain.states import RenderState
from bot.metrics import (
    GATEWAY_LATENCY,
    GUILDS,
    REGISTRY,
    RENDERS_BY_STATE,
    RENDERS_OPEN,
    STATUS_CALLS_WAITING,
)

if TYPE_CHECKING:
    from bot.discord_app.client import VideoBot

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, bot: VideoBot, *, port: int, host: str = "127.0.0.1") -> None:
        self._bot = bot
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("health and metrics on %s port %d", self._host, self.port)

    @property
    def port(self) -> int:
        """The port listened on: HEALTH_PORT, or the one the system picked when asked for port 0."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        ready = self._bot.is_ready() and not self._bot.is_closed()
        try:
            await self._bot.services.renders.count_open()
            database = True
        except Exception:
            database = False
        ok = ready and database
        body = {"discord": "ready" if ready else "connecting", "database": "ok" if database else "unreachable"}
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._read_gauges()
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        # The content type carries parameters (version, charset) that aiohttp's content_type argument refuses.
        return web.Response(body=encode(REGISTRY), headers={"Content-Type": content_type})

    async def _read_gauges(self) -> None:
        bot = self._bot
        GUILDS.set(len(bot.guilds))
        # NaN before the first heartbeat: Prometheus takes it as "no value", where 0 would claim a perfect link.
        GATEWAY_LATENCY.set(bot.latency)
        STATUS_CALLS_WAITING.set(bot.services.tracker.polls_waiting)
        try:
            counts = await bot.services.renders.count_by_state()
        except Exception as error:
            # Last scrape's figures would pass for current ones: the series go away until the database answers.
            log.warning("metrics: renders not counted, database unreachable (%s)", type(error).__name__)
            RENDERS_BY_STATE.clear()
            RENDERS_OPEN.set(float("nan"))
            return
        for state in RenderState:
            RENDERS_BY_STATE.labels(state=state.value).set(counts.get(state, 0))
        RENDERS_OPEN.set(sum(counts.values()))
