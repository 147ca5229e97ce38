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
    database = f"Database: OK ({world.database_name})"
    for line in ("Settings: OK", database, "Discord: OK", "ModelStream: OK", "All checks passed."):
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


async def test_a_broken_model_table_stops_start_up_naming_entry_and_field(world: World) -> None:
    models_file = world.workdir / "my-models.toml"
    models_file.write_text('[models."veo-3.1"]\ndurations = { min = 9, max = 4 }\n', encoding="utf-8")
    env = world.env() | {"MODELS_FILE": str(models_file)}

    code, output = await run_command(env, world.workdir)

    assert code == 2
    assert output.strip().splitlines() == [
        'Configuration error: models.toml + my-models.toml: model "veo-3.1", field "durations": '
        "min (9) is above max (4)"
    ]


async def test_a_setting_that_moved_into_the_model_table_says_where_it_went(world: World) -> None:
    env = world.env() | {"COST_PRO_PER_SECOND": "3"}

    code, output = await run_command(env, world.workdir)

    assert code == 2
    assert "COST_PRO_PER_SECOND is no longer read" in output
    assert "cost = { pro = 3 }" in output


async def test_a_default_model_missing_from_the_table_is_named(world: World) -> None:
    env = world.env() | {"DEFAULT_MODEL": "kling-v9"}

    code, output = await run_command(env, world.workdir)

    assert code == 2
    assert "DEFAULT_MODEL='kling-v9' is not an enabled model" in output
    assert "kling-v3" in output


async def test_check_lists_unverified_models(world: World) -> None:
    code, output = await run_command(world.env(), world.workdir, "check")

    assert code == 0, output
    assert "Model kling-v3: enabled, verified except sound, references (a guess)" in output
    assert "Model veo-3.1: enabled, UNVERIFIED" in output


async def test_check_names_the_models_the_key_cannot_use(world: World) -> None:
    world.api.models = [model for model in world.api.models if not model.startswith("wan2.7")]

    code, output = await run_command(world.env(), world.workdir, "check")

    assert code == 1
    assert "ModelStream models this key can use: " in output and "wan2.6-t2v" in output
    assert "Model wan-2.7: the API key can't use wan2.7-i2v, wan2.7-r2v, wan2.7-t2v" in output
    assert "1 problem(s) found." in output
