"""Health and metrics over HTTP (HEALTH_PORT): what an orchestrator probes and a dashboard scrapes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.discord_app.client import VideoBot

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, bot: VideoBot, *, port: int, host: str = "0.0.0.0") -> None:
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
        log.info("health and metrics on port %d", self._port)

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
        open_renders = await self._bot.services.renders.count_open()
        lines = [
            "# HELP videobot_renders_open Renders not finished (including those awaiting delivery or approval).",
            "# TYPE videobot_renders_open gauge",
            f"videobot_renders_open {open_renders}",
            "# HELP videobot_status_calls_total Status calls made to the video API by this process.",
            "# TYPE videobot_status_calls_total counter",
            f"videobot_status_calls_total {self._bot.services.tracker.status_calls_made}",
            "# HELP videobot_guilds Guilds this process serves.",
            "# TYPE videobot_guilds gauge",
            f"videobot_guilds {len(self._bot.guilds)}",
            "# HELP videobot_gateway_latency_seconds Heartbeat latency to the Discord gateway.",
            "# TYPE videobot_gateway_latency_seconds gauge",
            f"videobot_gateway_latency_seconds {self._bot.latency if self._bot.latency == self._bot.latency else 0}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
