"""One typed Settings object, built once from the environment and `.env`.

A missing or malformed value stops start-up with a single line that names the variable and says how to fix
it; secrets are wrapped so that printing the settings never shows them.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from dotenv import dotenv_values

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_MODELSTREAM_BASE_URL = "https://api.modelstream.ai"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

T = TypeVar("T")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is the one line shown to the operator."""


class Secret:
    """A string that refuses to show itself in reprs, logs and tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    modelstream_api_key: Secret
    modelstream_base_url: str = DEFAULT_MODELSTREAM_BASE_URL
    database_url: str = "sqlite+aiosqlite:///data/videobot.db"
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    data_dir: Path = Path("data")
    default_model: str = "kling-v3"
    log_level: str = "INFO"
    poll_interval: float = 10.0  # seconds between status calls for a young render
    render_timeout: float = 3600.0  # seconds from submission until a render is given up and refunded
    max_status_calls_per_second: float = 5.0
    max_concurrent_polls: int = 20
    max_concurrent_deliveries: int = 10  # submits, deliveries and status edits at once, apart from polls
    status_call_burst: int = 0  # extra status calls allowed within one second on top of the cap
    max_renders_at_api: int | None = None  # renders at the API at once, all processes together (None: no cap)
    api_request_timeout: float = 30.0
    max_retry_after: float = 300.0  # the longest wait a server's Retry-After can impose, in seconds
    download_deadline: float = 600.0  # seconds one clip download may take in all
    download_min_rate_kbps: float = 64.0  # KB/s a clip download must keep up (after a grace period)
    api_body_limit_mb: int = 32
    models_file: Path | None = None  # the operator's corrections and additions to the model table
    model_hold_minutes: float = 30.0  # a model the gateway can't serve (model_not_found) is kept off this long
    max_clip_mb: int = 500  # a clip larger than this is linked, never downloaded
    submit_deadline_minutes: float = 60.0  # a render the API would not take by then fails with a refund
    delivery_wait_hours: float = 24.0  # a finished clip Discord refuses (permission, outage) is retried this long
    kept_clips_mb: int = 2048  # disk for clips kept between delivery attempts
    lease_seconds: float = 300.0  # a render claimed by a process that died is taken over by another after this
    default_daily_credits: int | None = 50
    max_in_flight_per_member: int | None = 2
    image_retention_days: float = 7.0  # a delivered render's images are kept this long, for Regenerate and Remix
    instance_id: str = field(default_factory=lambda: socket.gethostname())
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    health_port: int | None = None
    health_host: str = "127.0.0.1"  # loopback: /metrics is for a scraper on this host unless the operator opens it
    sync_commands_on_start: bool = True  # only when the definition changed since the last sync
    # Video jobs (last frames, re-encodes, stitches) at once: one, since libx264 and the decoders already use
    # every core; a second job would halve both jobs' speed and double the memory.
    video_workers: int = 1
    video_time_limit: float = 300.0  # seconds one video job may run before it stops and its output is removed

    @property
    def status_calls_per_second_here(self) -> float:
        """This process's share of MAX_STATUS_CALLS_PER_SECOND, which caps every process on the database together.

        Processes split the shards between them (SHARD_IDS of SHARD_COUNT), so each takes the share of the cap its
        shards are of all the shards: two processes with one shard each get half each.
        """
        if self.shard_count is None or self.shard_ids is None:
            return self.max_status_calls_per_second
        return self.max_status_calls_per_second * len(self.shard_ids) / self.shard_count

    def secrets(self) -> tuple[str, ...]:
        """The raw secret values, so log redaction can remove them wherever they turn up."""
        return (self.discord_token.reveal(), self.modelstream_api_key.reveal())


def _required_secret(env: Mapping[str, str], name: str) -> Secret:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is missing: set it in the environment or in .env (see .env.example).")
    if any(ch.isspace() for ch in value):
        raise SettingsError(f"{name} contains spaces: paste the value alone, without quotes or a 'Bearer' prefix.")
    return Secret(value)


def _parsed(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, hint: str) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not valid: {hint}.") from None


def _positive_float(raw: str) -> float:
    value = float(raw)
    # float() also reads "nan" and "inf", which no interval or timeout can be.
    if not math.isfinite(value) or value <= 0:
        raise ValueError
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError
    return value


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _host(raw: str) -> str:
    """An address to listen on: an IPv4 or IPv6 address, or a host name."""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    if len(raw) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in raw.rstrip(".").split(".")):
        raise ValueError
    return raw


def _optional_limit(raw: str) -> int | None:
    """A credit limit: a whole number, or 'none'/'unlimited' for no limit."""
    if raw.lower() in ("none", "unlimited", "off"):
        return None
    return _non_negative_int(raw)


def _optional_cap(raw: str) -> int | None:
    """A cap: a whole number > 0, or 'none'/'unlimited'/'off' for no cap."""
    if raw.lower() in ("none", "unlimited", "off"):
        return None
    return _positive_int(raw)


def _limit(value: int | None) -> int | None:
    return value


def _http_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if not scheme.startswith(("sqlite", "postgresql", "postgres")):
        raise ValueError
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError
    return level


def _shard_ids(raw: str) -> tuple[int, ...]:
    ids = tuple(int(part) for part in raw.split(",") if part.strip())
    if not ids or any(i < 0 for i in ids):
        raise ValueError
    return ids


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError
    return path


# Settings that moved into the model table, with what to do instead.
_MOVED = {
    "COST_STD_PER_SECOND": (
        "credits per second are now set per model: put `cost = {{ std = {value} }}` under each "
        "`[models.<key>]` in MODELS_FILE"
    ),
    "COST_PRO_PER_SECOND": (
        "credits per second are now set per model: put `cost = {{ pro = {value} }}` under each "
        "`[models.<key>]` in MODELS_FILE"
    ),
    "REFERENCE_IMAGES_FIELD": (
        'where images go is now set per model: put `references = "<json path>"` under '
        "`[models.<key>.fields]` in MODELS_FILE"
    ),
}


def _moved_value(raw: str) -> str:
    # Echoed into a TOML snippet the operator may paste: only a whole number belongs there.
    return raw if raw.isdigit() else "<credits>"


def load_settings(environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")) -> Settings:
    """Build the settings from `.env` (if present) overlaid by the real environment, which wins."""
    env: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    # An empty variable (as compose files pass for unset ones) must not hide a value from .env.
    env.update({k: v for k, v in (os.environ if environ is None else environ).items() if v.strip()})

    for name, instead in _MOVED.items():
        if env.get(name, "").strip():
            value = _moved_value(env[name].strip())
            raise SettingsError(
                f"{name} is no longer read: {instead.format(value=value)}, then unset {name} (see README)."
            )
    data_dir = Path(env.get("DATA_DIR", "").strip() or "data")
    default_db = f"sqlite+aiosqlite:///{(data_dir / 'videobot.db').as_posix()}"
    shard_ids = _parsed(env, "SHARD_IDS", _shard_ids, None, "use a comma-separated list such as 0,1")
    shard_count = _parsed(env, "SHARD_COUNT", _positive_int, None, "use a whole number of shards, such as 2")
    if shard_ids is not None and shard_count is None:
        raise SettingsError("SHARD_IDS is set without SHARD_COUNT: set SHARD_COUNT to the total number of shards.")
    if shard_ids is not None and shard_count is not None and max(shard_ids) >= shard_count:
        raise SettingsError(f"SHARD_IDS lists a shard >= SHARD_COUNT ({shard_count}): shard ids start at 0.")
    default_instance = socket.gethostname() + (f"-shards-{'-'.join(map(str, shard_ids))}" if shard_ids else "")

    settings = Settings(
        discord_token=_required_secret(env, "DISCORD_TOKEN"),
        modelstream_api_key=_required_secret(env, "MODELSTREAM_API_KEY"),
        modelstream_base_url=_parsed(
            env, "MODELSTREAM_BASE_URL", _http_url, DEFAULT_MODELSTREAM_BASE_URL, "use an http(s) URL"
        ),
        database_url=_parsed(
            env,
            "DATABASE_URL",
            _database_url,
            default_db,
            "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host/db",
        ),
        discord_api_base=_parsed(
            env, "DISCORD_API_BASE", _http_url, DEFAULT_DISCORD_API_BASE, "use an http(s) URL ending in /api/v10"
        ),
        data_dir=data_dir,
        default_model=env.get("DEFAULT_MODEL", "").strip() or "kling-v3",
        log_level=_parsed(env, "LOG_LEVEL", _log_level, "INFO", f"use one of {', '.join(LOG_LEVELS)}"),
        poll_interval=_parsed(env, "POLL_INTERVAL_SECONDS", _positive_float, 10.0, "use a number of seconds > 0"),
        render_timeout=_parsed(
            env, "RENDER_TIMEOUT_SECONDS", _positive_float, 3600.0, "use a number of seconds > 0, such as 3600"
        ),
        max_status_calls_per_second=_parsed(
            env, "MAX_STATUS_CALLS_PER_SECOND", _positive_float, 5.0, "use a number > 0"
        ),
        max_concurrent_polls=_parsed(env, "MAX_CONCURRENT_POLLS", _positive_int, 20, "use a whole number > 0"),
        max_concurrent_deliveries=_parsed(
            env, "MAX_CONCURRENT_DELIVERIES", _positive_int, 10, "use a whole number > 0"
        ),
        status_call_burst=_parsed(env, "STATUS_CALL_BURST", _non_negative_int, 0, "use a whole number >= 0"),
        max_renders_at_api=_parsed(
            env, "MAX_RENDERS_AT_API", _optional_cap, None, "use a whole number > 0, or 'unlimited' for no cap"
        ),
        api_request_timeout=_parsed(
            env, "API_REQUEST_TIMEOUT_SECONDS", _positive_float, 30.0, "use a number of seconds > 0"
        ),
        api_body_limit_mb=_parsed(env, "API_BODY_LIMIT_MB", _positive_int, 32, "use a whole number of MB > 0"),
        max_retry_after=_parsed(
            env, "MAX_RETRY_AFTER_SECONDS", _positive_float, 300.0, "use a number of seconds > 0, such as 300"
        ),
        download_deadline=_parsed(
            env, "DOWNLOAD_DEADLINE_SECONDS", _positive_float, 600.0, "use a number of seconds > 0, such as 600"
        ),
        download_min_rate_kbps=_parsed(
            env, "DOWNLOAD_MIN_RATE_KBPS", _positive_float, 64.0, "use a number of kilobytes a second > 0, such as 64"
        ),
        models_file=_parsed(
            env, "MODELS_FILE", _existing_file, None, "no such file; point it at your TOML file of model corrections"
        ),
        model_hold_minutes=_parsed(
            env, "MODEL_UNAVAILABLE_MINUTES", _positive_float, 30.0, "use a number of minutes > 0, such as 30"
        ),
        max_clip_mb=_parsed(env, "MAX_CLIP_MB", _positive_int, 500, "use a whole number of MB > 0"),
        submit_deadline_minutes=_parsed(
            env, "SUBMIT_DEADLINE_MINUTES", _positive_float, 60.0, "use a number of minutes > 0, such as 60"
        ),
        delivery_wait_hours=_parsed(
            env, "DELIVERY_WAIT_HOURS", _positive_float, 24.0, "use a number of hours > 0, such as 24"
        ),
        kept_clips_mb=_parsed(env, "KEPT_CLIPS_MB", _positive_int, 2048, "use a whole number of MB > 0"),
        lease_seconds=_parsed(env, "LEASE_SECONDS", _positive_float, 300.0, "use a number of seconds > 0, such as 300"),
        default_daily_credits=_parsed(
            env, "DEFAULT_DAILY_CREDITS", _optional_limit, _limit(50), "use a whole number, or 'unlimited'"
        ),
        max_in_flight_per_member=_parsed(
            env, "MAX_IN_FLIGHT_PER_MEMBER", _optional_limit, _limit(2), "use a whole number, or 'unlimited'"
        ),
        image_retention_days=_parsed(
            env, "IMAGE_RETENTION_DAYS", _positive_float, 7.0, "use a number of days > 0, such as 7"
        ),
        instance_id=env.get("INSTANCE_ID", "").strip() or default_instance,
        shard_count=shard_count,
        shard_ids=shard_ids,
        health_port=_parsed(env, "HEALTH_PORT", _port, None, "use a TCP port number (1-65535) such as 8080"),
        health_host=_parsed(
            env, "HEALTH_HOST", _host, "127.0.0.1", "use an address such as 127.0.0.1, or 0.0.0.0 for every interface"
        ),
        sync_commands_on_start=_parsed(env, "SYNC_COMMANDS_ON_START", _bool, True, "use true or false"),
        video_workers=_parsed(env, "VIDEO_WORKERS", _positive_int, 1, "use a whole number > 0, such as 1"),
        video_time_limit=_parsed(
            env, "VIDEO_TIME_LIMIT_SECONDS", _positive_float, 300.0, "use a number of seconds > 0, such as 300"
        ),
    )
    share = settings.status_calls_per_second_here
    if share < 1 and shard_ids is not None and shard_count is not None:
        # A process allowed under one call a second still makes one in some second: together they would pass the cap.
        needed = math.ceil(shard_count / len(shard_ids))
        raise SettingsError(
            f"MAX_STATUS_CALLS_PER_SECOND={settings.max_status_calls_per_second:g} shared by SHARD_COUNT={shard_count} "
            f"leaves this process (SHARD_IDS={','.join(map(str, shard_ids))}) {share:.2g} status calls a second; the "
            f"cap holds every second only with at least 1 per process: raise MAX_STATUS_CALLS_PER_SECOND to {needed} "
            "or more, or give this process more shards."
        )
    return settings
