"""Settings from the environment and `.env`: defaults, one clear line per bad value, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_MODELSTREAM_BASE_URL, Secret, SettingsError, load_settings

TOKEN = "discord.token.value-1234567890"
KEY = "sk-modelstream-key-0987654321"
REQUIRED = {"DISCORD_TOKEN": TOKEN, "MODELSTREAM_API_KEY": KEY}


def settings_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(env, env_file=None)
    return str(caught.value)


def test_two_secrets_are_enough_to_start() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    assert settings.discord_token.reveal() == TOKEN
    assert settings.modelstream_api_key.reveal() == KEY
    assert settings.modelstream_base_url == DEFAULT_MODELSTREAM_BASE_URL
    assert settings.database_url == "sqlite+aiosqlite:///data/videobot.db"
    assert settings.poll_interval == 10.0


@pytest.mark.parametrize("name", ["DISCORD_TOKEN", "MODELSTREAM_API_KEY"])
def test_missing_secret_is_named(name: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != name}

    message = settings_error(env)

    assert message.startswith(f"{name} is missing")
    assert ".env" in message


def test_blank_secret_counts_as_missing() -> None:
    assert settings_error({**REQUIRED, "DISCORD_TOKEN": "   "}).startswith("DISCORD_TOKEN is missing")


def test_secret_with_spaces_is_refused_without_echoing_it() -> None:
    message = settings_error({**REQUIRED, "MODELSTREAM_API_KEY": f"Bearer {KEY}"})

    assert message.startswith("MODELSTREAM_API_KEY contains spaces")
    assert KEY not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POLL_INTERVAL_SECONDS", "fast"),
        ("POLL_INTERVAL_SECONDS", "0"),
        ("POLL_INTERVAL_SECONDS", "-5"),
        ("POLL_INTERVAL_SECONDS", "nan"),
        ("RENDER_TIMEOUT_SECONDS", "inf"),
        ("MAX_STATUS_CALLS_PER_SECOND", "lots"),
        ("MAX_CONCURRENT_POLLS", "2.5"),
        ("API_REQUEST_TIMEOUT_SECONDS", "30s"),
        ("API_BODY_LIMIT_MB", "0"),
        ("MAX_CLIP_MB", "big"),
        ("MODELSTREAM_BASE_URL", "api.modelstream.ai"),
        ("DISCORD_API_BASE", "ftp://discord.example/api/v10"),
        ("DATABASE_URL", "mysql://db/videobot"),
        ("LOG_LEVEL", "LOUD"),
        ("DEFAULT_DAILY_CREDITS", "-1"),
        ("MAX_IN_FLIGHT_PER_MEMBER", "two"),
        ("MODEL_UNAVAILABLE_MINUTES", "soon"),
        ("MODEL_UNAVAILABLE_MINUTES", "0"),
        ("SHARD_COUNT", "0"),
        ("HEALTH_PORT", "http"),
        ("HEALTH_PORT", "70000"),
        ("HEALTH_HOST", "http://0.0.0.0"),
        ("HEALTH_HOST", "my host"),
        ("SYNC_COMMANDS_ON_START", "maybe"),
        ("MAX_CONCURRENT_DELIVERIES", "0"),
        ("MAX_CONCURRENT_DELIVERIES", "ten"),
        ("STATUS_CALL_BURST", "-1"),
        ("STATUS_CALL_BURST", "1.5"),
    ],
)
def test_malformed_value_is_named_with_how_to_fix_it(name: str, value: str) -> None:
    message = settings_error({**REQUIRED, name: value})

    assert message.startswith(f"{name}={value!r} is not valid: use ")
    assert "\n" not in message


def test_shard_ids_without_shard_count_is_refused() -> None:
    message = settings_error({**REQUIRED, "SHARD_IDS": "0,1"})

    assert message.startswith("SHARD_IDS is set without SHARD_COUNT")


def test_shard_id_beyond_the_shard_count_is_refused() -> None:
    assert settings_error({**REQUIRED, "SHARD_IDS": "0,2", "SHARD_COUNT": "2"}).startswith("SHARD_IDS lists a shard")


def test_well_formed_values_are_parsed() -> None:
    settings = load_settings(
        {
            **REQUIRED,
            "POLL_INTERVAL_SECONDS": "2.5",
            "DEFAULT_DAILY_CREDITS": "unlimited",
            "MAX_IN_FLIGHT_PER_MEMBER": "4",
            "SHARD_IDS": "0, 1",
            "SHARD_COUNT": "2",
            "HEALTH_PORT": "8080",
            "HEALTH_HOST": "0.0.0.0",
            "SYNC_COMMANDS_ON_START": "no",
            "LOG_LEVEL": "debug",
            "MODELSTREAM_BASE_URL": "http://127.0.0.1:8000/",
        },
        env_file=None,
    )

    assert settings.poll_interval == 2.5
    assert settings.default_daily_credits is None
    assert settings.max_in_flight_per_member == 4
    assert (settings.shard_ids, settings.shard_count) == ((0, 1), 2)
    assert settings.health_port == 8080
    assert settings.health_host == "0.0.0.0"
    assert settings.sync_commands_on_start is False
    assert settings.log_level == "DEBUG"
    assert settings.modelstream_base_url == "http://127.0.0.1:8000"


def test_scale_settings_default_to_ten_deliveries_and_no_burst() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    assert (settings.max_concurrent_deliveries, settings.status_call_burst) == (10, 0)
    assert (settings.max_status_calls_per_second, settings.max_concurrent_polls) == (5.0, 20)


def test_scale_settings_are_read() -> None:
    settings = load_settings(
        {**REQUIRED, "MAX_CONCURRENT_DELIVERIES": "4", "STATUS_CALL_BURST": "2", "MAX_STATUS_CALLS_PER_SECOND": "8"},
        env_file=None,
    )

    assert (settings.max_concurrent_deliveries, settings.status_call_burst) == (4, 2)
    assert settings.status_calls_per_second_here == 8.0


def status_share(calls: str, **shards: str) -> float:
    env = {**REQUIRED, "MAX_STATUS_CALLS_PER_SECOND": calls, **shards}
    return load_settings(env, env_file=None).status_calls_per_second_here


@pytest.mark.parametrize(
    ("calls", "shards", "share"),
    [
        ("5", {}, 5.0),  # one process: the whole cap
        ("5", {"SHARD_COUNT": "4"}, 5.0),  # one process running every shard
        ("5", {"SHARD_COUNT": "2", "SHARD_IDS": "0"}, 2.5),
        ("5", {"SHARD_COUNT": "2", "SHARD_IDS": "1"}, 2.5),
        ("6", {"SHARD_COUNT": "4", "SHARD_IDS": "0,1,2"}, 4.5),
        ("4", {"SHARD_COUNT": "4", "SHARD_IDS": "3"}, 1.0),
        ("12", {"SHARD_COUNT": "4", "SHARD_IDS": "0,1,2,3"}, 12.0),
    ],
)
def test_each_process_takes_its_shards_share_of_the_status_call_cap(
    calls: str, shards: dict[str, str], share: float
) -> None:
    assert status_share(calls, **shards) == share


def test_processes_splitting_the_shards_together_take_no_more_than_the_cap() -> None:
    split = [("0,1",), ("2",), ("3,4,5",)]
    shares = [status_share("9", SHARD_COUNT="6", SHARD_IDS=ids) for (ids,) in split]

    assert sum(shares) == 9.0


def test_a_share_under_one_call_a_second_is_refused_saying_what_to_do() -> None:
    # Six processes allowed one call every 1.2 s each would still make six calls in some second, past the cap of 5.
    message = settings_error({**REQUIRED, "MAX_STATUS_CALLS_PER_SECOND": "5", "SHARD_COUNT": "6", "SHARD_IDS": "2"})

    assert message.startswith("MAX_STATUS_CALLS_PER_SECOND=5 shared by SHARD_COUNT=6 leaves this process")
    assert "raise MAX_STATUS_CALLS_PER_SECOND to 6 or more" in message
    assert "\n" not in message


def test_a_single_process_may_have_a_cap_under_one_call_a_second() -> None:
    assert status_share("0.5") == 0.5


def test_data_dir_moves_the_default_database() -> None:
    settings = load_settings({**REQUIRED, "DATA_DIR": "/srv/videobot"}, env_file=None)

    assert settings.database_url == "sqlite+aiosqlite:////srv/videobot/videobot.db"


def test_model_settings_default_to_the_shipped_table_and_a_half_hour_hold() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    assert (settings.models_file, settings.model_hold_minutes) == (None, 30.0)


def test_models_file_and_hold_minutes_are_read(tmp_path: Path) -> None:
    models_file = tmp_path / "models.toml"
    models_file.write_text('[models.kling-v3]\nname = "Kling"\n')

    settings = load_settings(
        {**REQUIRED, "MODELS_FILE": str(models_file), "MODEL_UNAVAILABLE_MINUTES": "12.5"}, env_file=None
    )

    assert settings.models_file == models_file
    assert settings.model_hold_minutes == 12.5


@pytest.mark.parametrize("missing", ["nowhere.toml", "."])
def test_models_file_that_is_not_a_file_is_one_clear_line(tmp_path: Path, missing: str) -> None:
    path = tmp_path / missing

    message = settings_error({**REQUIRED, "MODELS_FILE": str(path)})

    assert message == (
        f"MODELS_FILE={str(path)!r} is not valid: no such file; point it at your TOML file of model corrections."
    )


@pytest.mark.parametrize(
    ("name", "value", "instead"),
    [
        ("COST_STD_PER_SECOND", "3", "put `cost = { std = 3 }` under each `[models.<key>]` in MODELS_FILE"),
        ("COST_PRO_PER_SECOND", "7", "put `cost = { pro = 7 }` under each `[models.<key>]` in MODELS_FILE"),
        ("COST_PRO_PER_SECOND", "-2", "put `cost = { pro = <credits> }` under each `[models.<key>]` in MODELS_FILE"),
        ("REFERENCE_IMAGES_FIELD", "image_urls", 'put `references = "<json path>"` under `[models.<key>.fields]`'),
    ],
)
def test_a_setting_that_moved_into_the_model_table_stops_start_up_saying_what_to_do(
    name: str, value: str, instead: str
) -> None:
    message = settings_error({**REQUIRED, name: value})

    assert message.startswith(f"{name} is no longer read: ")
    assert instead in message
    assert f"then unset {name}" in message
    assert "\n" not in message


def test_a_moved_setting_left_empty_is_ignored() -> None:
    # Compose files pass unset variables as empty strings.
    settings = load_settings({**REQUIRED, "COST_STD_PER_SECOND": "", "REFERENCE_IMAGES_FIELD": " "}, env_file=None)

    assert settings.discord_token.reveal() == TOKEN


def test_a_moved_setting_in_the_env_file_is_refused_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("COST_STD_PER_SECOND=2\n")

    with pytest.raises(SettingsError, match=r"^COST_STD_PER_SECOND is no longer read"):
        load_settings(REQUIRED, env_file=env_file)


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f'DISCORD_TOKEN={TOKEN}\nMODELSTREAM_API_KEY="{KEY}"\nPOLL_INTERVAL_SECONDS=4\n')

    settings = load_settings({}, env_file=env_file)

    assert settings.discord_token.reveal() == TOKEN
    assert settings.modelstream_api_key.reveal() == KEY
    assert settings.poll_interval == 4.0


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN=from-the-file-123456\nMODELSTREAM_API_KEY={KEY}\nLOG_LEVEL=ERROR\n")

    settings = load_settings({"DISCORD_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}, env_file=env_file)

    assert settings.discord_token.reveal() == TOKEN
    assert settings.log_level == "WARNING"
    assert settings.modelstream_api_key.reveal() == KEY


def test_absent_env_file_is_not_an_error(tmp_path: Path) -> None:
    settings = load_settings(REQUIRED, env_file=tmp_path / "missing.env")

    assert settings.discord_token.reveal() == TOKEN


def test_malformed_value_in_env_file_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_CONCURRENT_POLLS=many\n")

    with pytest.raises(SettingsError, match=r"^MAX_CONCURRENT_POLLS='many' is not valid"):
        load_settings(REQUIRED, env_file=env_file)


def test_secrets_never_show_in_the_settings_repr_or_str() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    for shown in (repr(settings), str(settings), f"{settings}", repr(settings.discord_token)):
        assert TOKEN not in shown
        assert KEY not in shown
    assert "********" in repr(settings)


def test_secrets_are_listed_for_log_redaction() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    assert set(settings.secrets()) == {TOKEN, KEY}


def test_secrets_compare_by_value() -> None:
    assert Secret(TOKEN) == Secret(TOKEN)
    assert Secret(TOKEN) != Secret(KEY)
    assert Secret(TOKEN) != TOKEN


def test_download_and_retry_after_limits_default_to_five_minutes_ten_minutes_and_64_kb_s() -> None:
    settings = load_settings(REQUIRED, env_file=None)

    assert (settings.max_retry_after, settings.download_deadline, settings.download_min_rate_kbps) == (
        300.0,
        600.0,
        64.0,
    )


def test_download_and_retry_after_limits_are_read() -> None:
    env = {
        **REQUIRED,
        "MAX_RETRY_AFTER_SECONDS": "60",
        "DOWNLOAD_DEADLINE_SECONDS": "120",
        "DOWNLOAD_MIN_RATE_KBPS": "8",
    }

    settings = load_settings(env, env_file=None)

    assert (settings.max_retry_after, settings.download_deadline, settings.download_min_rate_kbps) == (60.0, 120.0, 8.0)


@pytest.mark.parametrize("name", ["MAX_RETRY_AFTER_SECONDS", "DOWNLOAD_DEADLINE_SECONDS", "DOWNLOAD_MIN_RATE_KBPS"])
def test_download_and_retry_after_limits_must_be_positive(name: str) -> None:
    assert settings_error({**REQUIRED, name: "0"}).startswith(f"{name}='0' is not valid")
