"""The process harness: starts a child with only the given environment, captures output, never leaks it."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord

# A stand-in for `python -m bot`: a plain discord.py bot configured the way ours is (REST base + autosharding).
STANDIN_BOT = textwrap.dedent(
    """
    import os, sys
    import discord
    from discord.ext import commands

    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    print("starting with", sorted(k for k in os.environ if k.startswith("DISCORD")), flush=True)
    bot = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default())
    bot.run(os.environ["DISCORD_TOKEN"], log_handler=None)
    """
)
SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"


def standin(tmp_path: Path, name: str, source: str) -> str:
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(source)
    return name


async def test_child_identifies_on_the_fake_and_prints_no_token(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = {"DISCORD_TOKEN": fake.token, "DISCORD_API_BASE": fake.api_base, "PYTHONPATH": str(tmp_path)}
        proc = BotProcess(env, tmp_path, module=standin(tmp_path, "standin_bot", STANDIN_BOT))
        async with proc:
            await proc.wait_ready(fake, timeout=30)

        assert "starting with ['DISCORD_API_BASE', 'DISCORD_TOKEN']" in proc.output()
        assert fake.token not in proc.output()
        assert not proc.running()


async def test_sigkill_ends_the_child_at_once(tmp_path: Path) -> None:
    proc = BotProcess({"PYTHONPATH": str(tmp_path)}, tmp_path, module=standin(tmp_path, "sleeper", SLEEPER))
    await proc.start()
    await proc.wait_output("up")

    proc.kill(signal.SIGKILL)

    assert await proc.wait_exit(timeout=5) == -signal.SIGKILL


async def test_stop_terminates_and_leaves_no_process(tmp_path: Path) -> None:
    proc = BotProcess({"PYTHONPATH": str(tmp_path)}, tmp_path, module=standin(tmp_path, "sleeper2", SLEEPER))
    await proc.start()
    await proc.wait_output("up")
    pid = proc.pid
    assert pid is not None

    assert await proc.stop() == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_parent_environment_is_not_inherited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "developer-token")

    proc = BotProcess({"X": "1"}, tmp_path)

    assert "DISCORD_TOKEN" not in proc.env
    assert proc.env["X"] == "1"
