"""The benchmark's world: fake Discord and fake video API in this process, the real bot as a child process.

Same wiring as the end-to-end tests (`tests/e2e/conftest.py`): the bot reaches both fakes through its settings
only, so what is measured is the unmodified `python -m bot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeUser
from tests.fakes.video_api import FakeVideoApi

API_KEY = "sk-bench-key-0123456789abcdef"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Memory:
    """What the kernel says about the bot's memory (kB → MiB)."""

    rss_mib: float  # resident now
    peak_mib: float  # high-water mark of resident memory since the process started (VmHWM)


def read_memory(pid: int) -> Memory:
    """Read VmRSS and VmHWM from /proc: the peak is the kernel's, so no sampling can miss it."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return Memory(rss_mib=fields["VmRSS"], peak_mib=fields["VmHWM"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class World:
    """One fake Discord, one fake API and (once started) one bot process, all on loopback."""

    def __init__(self, discord: FakeDiscord, api: FakeVideoApi, workdir: Path) -> None:
        self.discord = discord
        self.api = api
        self.workdir = workdir
        self.bot: BotProcess | None = None
        self.members: list[FakeUser] = []

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            "DISCORD_TOKEN": self.discord.token,
            "MODELSTREAM_API_KEY": API_KEY,
            "DISCORD_API_BASE": self.discord.api_base,
            "MODELSTREAM_BASE_URL": self.api.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'bot.db'}",
            "DATA_DIR": str(self.workdir / "data"),
            "INSTANCE_ID": "bench-bot",
            "LOG_LEVEL": "WARNING",  # INFO would make the bot spend its time writing lines nobody reads
            "DEFAULT_DAILY_CREDITS": "unlimited",
            "MAX_IN_FLIGHT_PER_MEMBER": "unlimited",
        }
        env.update(extra)
        return env

    async def start_bot(self, **extra_env: str) -> BotProcess:
        self.bot = BotProcess(self.env(extra_env), self.workdir)
        await self.bot.start()
        await self.bot.wait_ready(self.discord, timeout=60, count=1)
        return self.bot

    @property
    def bot_pid(self) -> int:
        assert self.bot is not None and self.bot.pid is not None
        return self.bot.pid

    def add_members(self, count: int) -> None:
        """Requests are spread over several members, as in a real server."""
        self.members = [self.discord.add_user(f"member{n}") for n in range(count)]

    async def slash_generate(self, n: int, **options: object) -> FakeInteraction:
        user = self.members[n % len(self.members)] if self.members else None
        return await self.discord.send_slash_command(
            "video", "generate", options={"prompt": f"bench clip {n}", **options}, user=user
        )

    async def answered(self, interaction: FakeInteraction, within: float = 60.0) -> str:
        """Wait until the member's private reply is final (no longer "thinking…"); returns its text."""

        def done() -> str | None:
            message = self.discord.original(interaction)
            return message.content if message is not None and not message.loading else None

        return await self.discord.wait_for(done, timeout=within)

    def defer_latency(self, interaction: FakeInteraction) -> float | None:
        """Seconds from INTERACTION_CREATE leaving the gateway to the bot's first callback arriving."""
        callbacks = self.discord.callbacks(interaction)
        if not callbacks or interaction.sent_at is None:
            return None
        return callbacks[0].time - interaction.sent_at

    def status_calls(self) -> int:
        """Status calls the fake API has answered, over every task."""
        return sum(task.status_calls for task in self.api.tasks.values())

    async def bot_metric(self, name: str) -> float | None:
        """One value from the bot's own /metrics endpoint (only when it was started with HEALTH_PORT)."""
        port = self.bot.env.get("HEALTH_PORT") if self.bot else None
        if not port:
            return None
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                body = await response.text()
        except aiohttp.ClientError:
            return None
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


async def wait_until(predicate: Callable[[], bool], *, within: float, interval: float = 0.1, what: str = "it") -> None:
    """Poll a cheap predicate (this is a benchmark driver, not a test: real waiting is the point)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {within:.0f} s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def world(*, upload_limit: int = 10 * MIB) -> AsyncIterator[World]:
    """Start the fakes in a scratch directory; on leaving, stop the bot (whole process group) and clean up."""
    workdir = Path(tempfile.mkdtemp(prefix="videobot-bench-"))
    try:
        async with FakeDiscord(upload_limit=upload_limit) as discord, FakeVideoApi(api_key=API_KEY) as api:
            w = World(discord, api, workdir)
            try:
                yield w
            finally:
                if w.bot is not None:
                    await w.bot.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
