"""End-to-end world: a fake Discord and a fake video API in this process, the real bot as a separate process,
pointed at both through settings only (DISCORD_API_BASE, MODELSTREAM_BASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.video_api import FakeVideoApi

API_KEY = "sk-e2e-secret-key-0123456789abcdef"
T = TypeVar("T")


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

    async def ephemeral_reply(self, interaction: FakeInteraction, timeout: float = 10.0) -> str:  # noqa: ASYNC109
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


# ---- helpers for the /video generate tests (what a member sees in the channel) ------------------------------


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A real image of the given size, drawn with Pillow (a gradient, so encoders have something to chew on)."""
    import io

    from PIL import Image

    picture = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def status_messages(world: World, channel_id: int | None = None) -> list[FakeMessage]:
    """The bot's status messages in a channel: embeds, not a reply to anything."""
    return [m for m in world.channel_messages(channel_id) if m.embeds and m.reply_to is None]


def replies_to(world: World, status: FakeMessage) -> list[FakeMessage]:
    """Messages replying to a status message (where the clip, or its link, is delivered)."""
    return [m for m in world.channel_messages(status.channel_id) if m.reply_to == status.id]


def embed_titles(message: FakeMessage) -> list[str]:
    """The embed title of the message after its creation and after each edit, in order."""
    return [str(body["embeds"][0].get("title", "")) for body in message.history if body.get("embeds")]


def embed_text(message: FakeMessage) -> str:
    """Everything the current embed shows, as one string (title, description, fields)."""
    if not message.embeds:
        return ""
    embed = message.embeds[0]
    parts = [str(embed.get("title", "")), str(embed.get("description", ""))]
    parts += [f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def wait_title(world: World, status: FakeMessage, word: str, timeout: float = 20.0) -> str:  # noqa: ASYNC109
    """Wait until the status message's title contains `word`; returns the whole embed text."""
    await world.discord.wait_for(
        lambda: bool(status.embeds) and word in str(status.embeds[0].get("title", "")), timeout=timeout
    )
    return embed_text(status)


async def eventually(predicate: Callable[[], T | None], timeout: float = 10.0) -> T:  # noqa: ASYNC109
    """Poll a condition on something that records no Discord event (the fake API, the bot's process)."""
    async with asyncio.timeout(timeout):
        # The fake API keeps plain lists, with no event to wait on: a short poll is the only way to watch them.
        while not (value := predicate()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return value
