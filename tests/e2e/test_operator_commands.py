"""What an operator sees from `python -m bot check` and from a broken configuration."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import API_KEY, World
from tests.fakes.bot_process import BotProcess


async def run_command(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    process = BotProcess(env, cwd, args=args)
    await process.start()
    code = await process.wait_exit(timeout=60)
    return code, process.output()


async def test_check_reports_every_part_ok(world: World) -> None:
    code, output = await run_command(world.env(), world.workdir, "check")

    assert code == 0, output
    for line in ("Settings: OK", "Database: OK (SQLite)", "Discord: OK", "ModelStream: OK", "All checks passed."):
        assert line in output
    assert API_KEY not in output


async def test_check_names_a_refused_api_key_in_plain_words(world: World) -> None:
    env = world.env() | {"MODELSTREAM_API_KEY": "sk-wrong-key-0000000000000000"}

    code, output = await run_command(env, world.workdir, "check")

    assert code == 1
    assert "ModelStream: AuthError" in output
    assert "1 problem(s) found." in output
    assert "sk-wrong-key-0000000000000000" not in output


async def test_check_names_a_refused_discord_token(world: World) -> None:
    env = world.env() | {"DISCORD_TOKEN": "not-the-right-token.abc.def"}

    code, output = await run_command(env, world.workdir, "check")

    assert code == 1
    assert "Discord: DISCORD_TOKEN was refused" in output


async def test_missing_secret_stops_start_up_with_one_line(world: World) -> None:
    env = world.env()
    del env["MODELSTREAM_API_KEY"]

    code, output = await run_command(env, world.workdir)

    assert code == 2
    assert output.strip().splitlines() == [
        "Configuration error: MODELSTREAM_API_KEY is missing: set it in the environment or in .env (see .env.example)."
    ]


async def test_malformed_setting_is_named(world: World) -> None:
    env = world.env() | {"POLL_INTERVAL_SECONDS": "soon"}

    code, output = await run_command(env, world.workdir)

    assert code == 2
    assert "POLL_INTERVAL_SECONDS='soon' is not valid" in output


async def test_sync_registers_the_commands_once(world: World) -> None:
    code, output = await run_command(world.env(), world.workdir, "sync")

    assert code == 0, output
    assert "Slash commands synced." in output
    names = {command["name"] for command in world.discord.command_syncs[-1].commands}
    assert {"video"} <= names
