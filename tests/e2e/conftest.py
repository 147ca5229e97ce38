"""End-to-end world: a fake Discord and a fake video API in this process, the real bot as a separate process,
pointed at both through settings only (DISCORD_API_BASE, MODELSTREAM_BASE_URL).

Every world runs on each database backend available: SQLite always, PostgreSQL when TEST_POSTGRES_URL is set
(a fresh database per test, dropped afterwards), so test ids end in [sqlite] or [postgresql].
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Executable, text

from bot.storage.db import Database
from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.discord_components import texts
from tests.fakes.video_api import FakeVideoApi
from tests.storage.databases import POSTGRES_URL, open_database

API_KEY = "sk-e2e-secret-key-0123456789abcdef"
T = TypeVar("T")

# The backends every end-to-end test runs on: only those this machine has (CI always sets TEST_POSTGRES_URL, and
# tests/conftest.py refuses to run CI without it).
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@asynccontextmanager
async def bot_database(backend: str, where: Path) -> AsyncIterator[Database]:
    """An empty database of `backend` for the bot, which migrates it at start-up as in production.

    The handle is the test's own, for looking at (or changing) what the bot stored.
    """
    async with open_database("postgres" if backend == "postgresql" else backend, where, migrate=False) as database:
        yield database


@dataclass
class World:
    discord: FakeDiscord
    api: FakeVideoApi
    workdir: Path
    database: Database
    extra_env: dict[str, str] = field(default_factory=dict)
    bot: BotProcess | None = None
    others: list[BotProcess] = field(default_factory=list)  # more bot processes on the same database (shards)

    @property
    def backend(self) -> str:
        return "postgresql" if self.database.is_postgres else "sqlite"

    @property
    def database_name(self) -> str:
        """The backend as `python -m bot check` names it."""
        return "PostgreSQL" if self.database.is_postgres else "SQLite"

    async def rows(self, statement: str | Executable, **params: object) -> list[tuple[Any, ...]]:
        """Read the bot's database behind its back: SQL with :name parameters valid on both backends, or a query
        built on the bot's tables (which reads timestamps back as the bot does)."""
        query = text(statement) if isinstance(statement, str) else statement
        async with self.database.read() as conn:
            return [tuple(row) for row in await conn.execute(query, params)]

    async def execute(self, statement: str, **params: object) -> int:
        """Change the bot's database behind its back; returns how many rows changed."""
        async with self.database.write() as conn:
            result = await conn.execute(text(statement), params)
        return int(result.rowcount)

    def env(self) -> dict[str, str]:
        env = {
            "DISCORD_TOKEN": self.discord.token,
            "MODELSTREAM_API_KEY": API_KEY,
            "DISCORD_API_BASE": self.discord.api_base,
            "MODELSTREAM_BASE_URL": self.api.base_url,
            "DATABASE_URL": self.database.engine.url.render_as_string(hide_password=False),
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

    async def start_shard(self, shard_id: int, shard_count: int, **extra_env: str) -> BotProcess:
        """Start one more bot process on the same database, serving shard `shard_id` of `shard_count` as an operator
        runs them (SHARD_COUNT, SHARD_IDS, an INSTANCE_ID and a DATA_DIR of its own), and wait until its shard is on
        the gateway with its guilds. It is stopped with the world."""
        env = self.env() | {
            "SHARD_COUNT": str(shard_count),
            "SHARD_IDS": str(shard_id),
            "INSTANCE_ID": self.shard_instance(shard_id),
            "DATA_DIR": str(self.workdir / f"data-shard-{shard_id}"),
        }
        identified = len([i for i in self.discord.identifies if i.op == 2 and i.token_ok])
        bot = BotProcess(env | extra_env, self.workdir)
        self.others.append(bot)
        await bot.start()
        await bot.wait_ready(self.discord, timeout=30, count=identified + 1)
        return bot

    @staticmethod
    def shard_instance(shard_id: int) -> str:
        """The INSTANCE_ID of the process `start_shard` started for a shard (what its leases carry)."""
        return f"e2e-bot-shard-{shard_id}"

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


@pytest.fixture(params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with (
        bot_database(request.param, tmp_path) as database,
        FakeDiscord() as discord,
        FakeVideoApi(api_key=API_KEY) as api,
    ):
        api.configure(render_polls=2, video_size=200_000)
        w = World(discord, api, tmp_path, database)
        try:
            yield w
        finally:
            bots = [*w.others, *([w.bot] if w.bot is not None else [])]
            for bot in bots:
                await bot.stop()
            for bot in bots:
                assert API_KEY not in bot.output(), "the API key leaked into the bot's output"
                assert discord.token not in bot.output(), "the Discord token leaked into the bot's output"


# ---- helpers for the /video generate tests (what a member sees in the channel) ------------------------------


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A real image of the given size, drawn with Pillow (a gradient, so encoders have something to chew on)."""
    import io

    from PIL import Image

    picture = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


CARD_FOOTER = "-# Request "


def is_card(message: FakeMessage) -> bool:
    """A status card of the bot: a Components V2 card (its last line names the request), or an embed card."""
    if message.is_components_v2:
        return any(line.startswith(CARD_FOOTER) for line in message.texts)
    return bool(message.embeds)


def status_messages(world: World, channel_id: int | None = None) -> list[FakeMessage]:
    """The bot's status cards in a channel that reply to nothing (a Continue's card replies to its clip)."""
    return [m for m in world.channel_messages(channel_id) if is_card(m) and m.reply_to is None]


def replies_to(world: World, status: FakeMessage) -> list[FakeMessage]:
    """Messages replying to a status message (where the clip, or its link, is delivered)."""
    return [m for m in world.channel_messages(status.channel_id) if m.reply_to == status.id]


def shown_text(message: FakeMessage) -> str:
    """What a member reads on any message: its content, or the text displays of a Components V2 message."""
    return "\n".join([message.content, *message.texts]) if message.is_components_v2 else message.content


def _title_of(texts: list[str]) -> str:
    return texts[0].removeprefix("### ") if texts else ""


def card_title(message: FakeMessage) -> str:
    """The card's title as members see it now (the heading of a V2 card, or the embed's title)."""
    if message.is_components_v2:
        return _title_of(message.texts)
    return str(message.embeds[0].get("title", "")) if message.embeds else ""


def embed_titles(message: FakeMessage) -> list[str]:
    """The card's title after its creation and after each edit that changed what it shows, in order."""
    titles = []
    for body in message.history:
        if body.get("components") and int(body.get("flags") or 0) & (1 << 15):
            titles.append(_title_of(texts(body["components"])))
        elif body.get("embeds"):
            titles.append(str(body["embeds"][0].get("title", "")))
    return titles


def embed_text(message: FakeMessage) -> str:
    """Everything the card shows now, as one string: a V2 card's text displays, or an embed's title, description
    and fields."""
    if message.is_components_v2:
        return "\n".join(message.texts)
    if not message.embeds:
        return ""
    embed = message.embeds[0]
    parts = [str(embed.get("title", "")), str(embed.get("description", ""))]
    parts += [f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields", [])]
    return "\n".join(parts)


card_text = embed_text


async def wait_title(world: World, status: FakeMessage, word: str, timeout: float = 20.0) -> str:  # noqa: ASYNC109
    """Wait until the status card's title contains `word`; returns the whole card's text."""
    await world.discord.wait_for(lambda: word in card_title(status), timeout=timeout)
    return embed_text(status)


async def eventually(predicate: Callable[[], T | None], timeout: float = 10.0) -> T:  # noqa: ASYNC109
    """Poll a condition on something that records no Discord event (the fake API, the bot's process)."""
    async with asyncio.timeout(timeout):
        # The fake API keeps plain lists, with no event to wait on: a short poll is the only way to watch them.
        while not (value := predicate()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return value
