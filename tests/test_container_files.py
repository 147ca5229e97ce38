"""The deployment files: Docker can't run here, so their promises are checked as text (and .env.example by loading
it). PyYAML is deliberately not a dependency: docker-compose.yml is checked line by line."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.settings import load_settings
from bot.storage.db import normalise_url
from tests.storage.databases import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"DISCORD_TOKEN": "token-for-test", "MODELSTREAM_API_KEY": "sk-key-for-test"}
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def instructions(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def env_example() -> dict[str, str]:
    """Every NAME=value line of .env.example, commented out or not."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#? ?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def settings_names() -> list[str]:
    """The variables load_settings() reads, found in its source (so a new setting can't be forgotten here)."""
    tree = ast.parse((ROOT / "bot" / "settings.py").read_text(encoding="utf-8"))
    load = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "load_settings")
    names = []
    for node in ast.walk(load):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("_parsed", "_required_secret"):
            arg = node.args[1]
        elif isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            arg = node.args[0]
        else:
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.append(arg.value)
    return names


def test_dockerfile_starts_from_python_311_slim() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = instructions("USER")
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_keeps_data_in_a_volume_at_app_data() -> None:
    volumes = " ".join(instructions("VOLUME"))
    assert "/app/data" in volumes
    env = " ".join(instructions("ENV"))
    assert "DATA_DIR=/app/data" in env
    assert "DATABASE_URL=sqlite+aiosqlite:////app/data/" in env


def test_dockerfile_installs_the_hashed_lock_and_copies_the_bot() -> None:
    assert "requirements.lock ./" in instructions("COPY")
    installs = [run for run in instructions("RUN") if "pip install" in run]
    assert installs == ["pip install --require-hashes -r requirements.lock"]
    assert any(copy.startswith("bot/") for copy in instructions("COPY"))


def test_dockerfile_entrypoint_is_python_m_bot() -> None:
    (entrypoint,) = instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", "bot"]


def test_dockerfile_healthcheck_gets_healthz_on_the_exposed_port() -> None:
    (healthcheck,) = instructions("HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    assert "HEALTH_PORT=8080" in " ".join(instructions("ENV"))
    assert instructions("EXPOSE") == ["8080"]


def test_dockerfile_serves_health_and_metrics_beyond_the_containers_loopback() -> None:
    # The bot's default HEALTH_HOST is loopback: inside a container a scraper next to it could not reach /metrics.
    assert "HEALTH_HOST=0.0.0.0" in " ".join(instructions("ENV"))


def test_dockerignore_keeps_the_env_file_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored


def test_compose_file_is_plain_spaces_indented_yaml() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "\t" not in text  # YAML forbids tabs in indentation
    top_level = [line.split(":")[0] for line in text.splitlines() if re.match(r"[a-z]", line)]
    assert top_level == ["services", "volumes"]


def compose_postgres_major() -> int:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    match = re.search(r"^  db:\n(?:    .*\n)*?    image: postgres:(\d+)\n", text, re.MULTILINE)
    assert match, "the db service has no postgres:<major> image"
    return int(match.group(1))


def ci_postgres_major() -> int:
    (major,) = re.findall(r"^PG_MAJOR=(\d+)$", (ROOT / ".ci" / "postgres.sh").read_text(encoding="utf-8"), re.M)
    return int(major)


def test_ci_tests_against_the_postgres_major_that_compose_runs() -> None:
    assert compose_postgres_major() == ci_postgres_major()


@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set (CI always sets it)")
async def test_the_test_postgres_server_is_composes_major_version() -> None:
    assert POSTGRES_URL is not None
    engine = create_async_engine(normalise_url(POSTGRES_URL), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            version = int(await conn.scalar(sql("SHOW server_version_num")))
    finally:
        await engine.dispose()
    assert version // 10000 == compose_postgres_major()


def test_compose_runs_the_bot_against_postgres() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert re.search(r"^  db:\n(    .*\n)*    image: postgres:\d+\n", text, re.MULTILINE)
    assert re.search(r"^  bot:\n(    .*\n)*    build: \.\n", text, re.MULTILINE)
    assert "DATABASE_URL: postgresql+asyncpg://" in text
    assert "@db:5432/" in text
    assert "env_file: .env" in text
    assert "pg_isready" in text and "condition: service_healthy" in text
    assert "- pgdata:/var/lib/postgresql/data" in text
    assert "- botdata:/app/data" in text


def test_env_example_lists_every_setting() -> None:
    documented = env_example()
    names = settings_names()
    assert len(names) > 20  # the AST walk found the settings, not nothing
    assert [n for n in names if n not in documented] == []
    assert [n for n in documented if n not in names and n not in COMPOSE_ONLY] == []


def test_env_example_starts_with_the_two_secrets_blank() -> None:
    assert list(env_example().items())[:2] == [("DISCORD_TOKEN", ""), ("MODELSTREAM_API_KEY", "")]


def test_env_example_with_only_the_secrets_filled_in_loads(tmp_path: Path) -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    filled = [f"{line}{SECRETS[line[:-1]]}" if line[:-1] in SECRETS else line for line in lines]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(filled) + "\n", encoding="utf-8")
    assert load_settings({}, env_file=env_file) == load_settings(SECRETS, env_file=None)


def test_env_example_defaults_are_the_real_defaults() -> None:
    shown = {k: v for k, v in env_example().items() if v and k not in SECRETS and k not in COMPOSE_ONLY}
    assert load_settings(SECRETS | shown, env_file=None) == load_settings(SECRETS, env_file=None)
