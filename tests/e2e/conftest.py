"""End-to-end world: a fake Discord and a fake video API in this process, the real bot as a separate process,
pointed at both through settings only (DISCORD_API_BASE, MODELSTREAM_BASE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.video_api import FakeVideoApi

API_KEY = "sk-e2e-secret-key-0123456789abcdef"


@dataclass
class World:
    discord: FakeDiscord
    api: FakeVideoApi
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    bot: BotProcess | None = None

    def env(self) -> dict[str, str]:
        env = {
            "DISCORD_TOKEN": self.discord.token,
            "MODELSTREAM_API_KEY": API_KEY,
            "DISCORD_API_BASE": self.discord.api_base,
            "MODELSTREAM_BASE_URL": self.api.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'bot.db'}",
            "DATA_DIR": str(self.workdir / "data"),
            "POLL_INTERVAL_SECONDS": "0.2",
            "INSTANCE_ID": "e2e-bot",
            "LOG_LEVEL": "INFO",
        }
        env.update(self.extra_env)
        return env

    async def start_bot(self, **extra_env: str) -> BotProcess:
        """Start (or restart) the bot process and wait until it is on the gateway with the guild."""
        self.extra_env.update(extra_env)
        identified = len(self.discord.identifies)
        self.bot = BotProcess(self.env(), self.workdir)
        await self.bot.start()
        await self.bot.wait_ready(self.discord, timeout=30, count=identified + 1)
        return self.bot

    async def slash(
        self, subcommand: str, *, group: str | None = None, name: str = "video", **kwargs: object
    ) -> FakeInteraction:
        return await self.discord.send_slash_command(name, subcommand, group=group, **kwargs)  # type: ignore[arg-type]

    async def ephemeral_reply(self, interaction: FakeInteraction, timeout: float = 10.0) -> str:
        """The text the member sees in the (ephemeral) reply once it is no longer "thinking"."""

        def done() -> str | None:
            message = self.discord.original(interaction)
            if message is None or message.loading:
                return None
            return message.content

        return str(await self.discord.wait_for(done, timeout=timeout))

    def channel_messages(self, channel_id: int | None = None) -> list[FakeMessage]:
        return self.discord.messages(channel_id)

    def create_calls(self) -> int:
        return len(self.api.create_calls)

    def output(self) -> str:
        return self.bot.output() if self.bot else ""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeDiscord() as discord, FakeVideoApi(api_key=API_KEY) as api:
        api.configure(render_polls=2, video_size=200_000)
        w = World(discord, api, tmp_path)
        try:
            yield w
        finally:
            if w.bot is not None:
                await w.bot.stop()
                assert API_KEY not in w.bot.output(), "the API key leaked into the bot's output"
                assert discord.token not in w.bot.output(), "the Discord token leaked into the bot's output"
