"""Composition root: settings -> logging -> database + HTTP -> services -> bot.

python -m bot          start the bot (same as `run`)
python -m bot check    validate settings, open the database, try the Discord token and the API key
python -m bot sync     register the slash commands with Discord now
python -m bot migrate  bring the database schema up to date and exit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import discord

from bot.clock import SYSTEM_CLOCK
from bot.discord_app.client import VideoBot, point_discord_at
from bot.discord_app.context import Services
from bot.discord_app.publisher import DiscordPublisher
from bot.domain.models import ModelTable, ModelTableError, load_model_table
from bot.domain.quota_types import GuildRules
from bot.health import HealthServer
from bot.logging_setup import configure_logging
from bot.media import VideoWorker
from bot.services.approvals import ApprovalService
from bot.services.chains import ChainService
from bot.services.estimates import Estimates
from bot.services.generation import GenerationService
from bot.services.intake import Intake
from bot.services.retention import ImageRetention
from bot.services.tracker import Tracker, TrackerConfig
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.db import Database
from bot.storage.images import ImageStore
from bot.storage.meta import MetaRepository
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from bot.videoapi.client import VideoApiClient
from bot.videoapi.download import DownloadLimits
from bot.videoapi.errors import VideoApiError
from bot.videoapi.payload import check_hooks
from bot.videoapi.retry import RetryPolicy

log = logging.getLogger("bot")


@dataclass
class Runtime:
    bot: VideoBot
    db: Database


@contextlib.asynccontextmanager
async def runtime(settings: Settings, models: ModelTable, *, track: bool) -> AsyncIterator[Runtime]:
    point_discord_at(settings.discord_api_base)
    db = Database.from_url(settings.database_url)
    await db.upgrade()
    async with aiohttp.ClientSession() as api_session, aiohttp.ClientSession() as downloads:
        api = VideoApiClient(
            api_session,
            settings.modelstream_base_url,
            settings.modelstream_api_key.reveal(),
            policy=RetryPolicy(max_attempts=4, max_retry_after=settings.max_retry_after),
            timeout=settings.api_request_timeout,
            download_limits=DownloadLimits(
                deadline=settings.download_deadline, min_rate=settings.download_min_rate_kbps * 1024
            ),
        )
        renders = RenderRepository(db)
        images = ImageStore(db)
        defaults = GuildRules(
            default_daily_credits=settings.default_daily_credits,
            max_in_flight_per_member=settings.max_in_flight_per_member,
        )
        config = GuildConfigRepository(db, defaults)
        holds = ModelHolds(db)
        estimates = Estimates(renders, now=SYSTEM_CLOCK.now)
        publisher = DiscordPublisher(
            render_timeout=settings.render_timeout,
            models=models,
            renders=renders,
            images=images,
            estimate=estimates.cached,
            slots=settings.max_renders_at_api,
        )
        media = VideoWorker.from_settings(settings)
        work_dir = settings.data_dir / "tmp"
        chains = ChainService(
            renders=renders,
            api=api,
            chat=publisher,
            media=media,
            work_dir=work_dir / "chains",
            kept_clips=work_dir / "clips",
            max_clip_bytes=settings.max_clip_mb * 1024 * 1024,
        )
        if track:
            chains.clean()  # only the process that runs the bot owns this folder (sync may run beside it)
        tracker = Tracker(
            renders,
            images,
            api,
            publisher,
            TrackerConfig(
                owner=settings.instance_id,
                work_dir=work_dir,
                poll_interval=settings.poll_interval,
                # Never nap longer than one poll interval, or a short interval would not be honoured.
                idle_wait=min(1.0, settings.poll_interval),
                render_timeout=settings.render_timeout,
                max_concurrent=settings.max_concurrent_polls,
                max_concurrent_work=settings.max_concurrent_deliveries,
                status_calls_per_second=settings.status_calls_per_second_here,
                status_call_burst=settings.status_call_burst,
                max_renders_at_api=settings.max_renders_at_api,
                max_clip_bytes=settings.max_clip_mb * 1024 * 1024,
                submit_deadline=settings.submit_deadline_minutes * 60,
                delivery_wait=settings.delivery_wait_hours * 3600,
                kept_clips_bytes=settings.kept_clips_mb * 1024 * 1024,
                api_timeout=settings.api_request_timeout,
                lease_seconds=settings.lease_seconds,
                model_hold_seconds=settings.model_hold_minutes * 60,
            ),
            models=models,
            clock=SYSTEM_CLOCK,
            guild_config=config,
            holds=holds,
            estimates=estimates,
            media=media,
        )
        services = Services(
            settings=settings,
            http=downloads,
            renders=renders,
            images=images,
            config=config,
            meta=MetaRepository(db),
            models=models,
            holds=holds,
            generation=GenerationService(
                renders=renders,
                images=images,
                config=config,
                alerts=AlertRepository(db),
                publisher=publisher,
                models=models,
                default_model=settings.default_model,
                holds=holds,
                wake_tracker=tracker.wake,
                now=SYSTEM_CLOCK.now,
            ),
            approvals=ApprovalService(
                renders=renders, publisher=publisher, wake_tracker=tracker.wake, config=config, now=SYSTEM_CLOCK.now
            ),
            tracker=tracker,
            clock=SYSTEM_CLOCK.now,
            intake=Intake(),
            retention=ImageRetention(
                images=images, renders=renders, keep_days=settings.image_retention_days, now=SYSTEM_CLOCK.now
            ),
            media=media,
            chains=chains,
        )
        bot = VideoBot(services, track=track)
        publisher.bind(bot)
        try:
            yield Runtime(bot, db)
        finally:
            if not bot.is_closed():
                await bot.close()
            await media.aclose()
            services.intake.close()
            await db.close()


async def run(settings: Settings, models: ModelTable) -> int:
    async with runtime(settings, models, track=True) as rt:
        health = (
            HealthServer(rt.bot, port=settings.health_port, host=settings.health_host) if settings.health_port else None
        )
        if health:
            await health.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(rt.bot.close()))
        try:
            await rt.bot.start(settings.discord_token.reveal())
        except discord.LoginFailure:
            log.error("Discord refused DISCORD_TOKEN: copy the bot token again from the Developer Portal.")
            return 1
        finally:
            if health:
                await health.stop()
    return 0


async def sync(settings: Settings, models: ModelTable) -> int:
    async with runtime(settings, models, track=False) as rt:
        await rt.bot.login(settings.discord_token.reveal())
        changed = await rt.bot.sync_commands(force=True)
        print("Slash commands synced." if changed else "Slash commands already up to date.")
    return 0


async def migrate(settings: Settings, models: ModelTable) -> int:
    db = Database.from_url(settings.database_url)
    try:
        await db.upgrade()
    finally:
        await db.close()
    print("Database schema is up to date.")
    return 0


async def check(settings: Settings, models: ModelTable) -> int:
    """What an operator runs first: each part either OK or one plain sentence about what to fix."""
    problems = 0
    print("Settings: OK")
    for line in describe_table(models):
        print(line)
    try:
        db = Database.from_url(settings.database_url)
        await db.upgrade()
        await db.close()
        print(f"Database: OK ({'PostgreSQL' if db.is_postgres else 'SQLite'})")
    except Exception as error:  # any failure here is reported, not raised: that is the command's job
        problems += 1
        print(f"Database: cannot open DATABASE_URL ({type(error).__name__}: {str(error).splitlines()[0][:200]})")
    point_discord_at(settings.discord_api_base)
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(settings.discord_token.reveal())
        print(f"Discord: OK (logged in as {client.user})")
    except discord.LoginFailure:
        problems += 1
        print("Discord: DISCORD_TOKEN was refused; copy the bot token again from the Developer Portal.")
    except (discord.HTTPException, aiohttp.ClientError, OSError) as error:
        problems += 1
        print(f"Discord: cannot reach {settings.discord_api_base} ({type(error).__name__}).")
    finally:
        await client.close()
    async with aiohttp.ClientSession() as session:
        api = VideoApiClient(
            session,
            settings.modelstream_base_url,
            settings.modelstream_api_key.reveal(),
            policy=RetryPolicy(max_attempts=1, max_retry_after=settings.max_retry_after),
            timeout=settings.api_request_timeout,
        )
        try:
            served = await api.list_models()
            print("ModelStream: OK (API key accepted)")
            shown = ", ".join(served[:40]) + (f" and {len(served) - 40} more" if len(served) > 40 else "")
            print(f"ModelStream models this key can use: {shown or 'none'}")
            for line in unusable_models(models, served):
                problems += 1
                print(line)
        except VideoApiError as error:
            problems += 1
            print(f"ModelStream: {type(error).__name__}: {error}")
    print("All checks passed." if problems == 0 else f"{problems} problem(s) found.")
    return 0 if problems == 0 else 1


COMMANDS = {"run": run, "check": check, "sync": sync, "migrate": migrate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="ModelStream video bot for Discord")
    parser.add_argument("command", nargs="?", default="run", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        models = load_model_table(settings.models_file)
        check_hooks(models)
        check_default_model(models, settings.default_model)
    except (SettingsError, ModelTableError) as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    return asyncio.run(COMMANDS[args.command](settings, models))


def check_default_model(models: ModelTable, key: str) -> None:
    spec = models.get(key)
    if spec is None or not spec.enabled:
        offered = ", ".join(spec.key for spec in models.enabled())
        raise SettingsError(f"DEFAULT_MODEL={key!r} is not an enabled model of the table; use one of {offered}.")


def describe_table(models: ModelTable) -> list[str]:
    """One line per model for `check`: enabled or not, and how sure the bot is of its wire mapping."""
    lines = []
    for spec in models:
        if not spec.enabled:
            lines.append(f"Model {spec.key}: disabled in the table")
        elif not spec.verified:
            lines.append(
                f"Model {spec.key}: enabled, UNVERIFIED (no ModelStream page confirms its field names; "
                "compare them with the page's JSON view, see README)"
            )
        elif spec.guessed:
            lines.append(f"Model {spec.key}: enabled, verified except {', '.join(spec.guessed)} (a guess)")
        else:
            lines.append(f"Model {spec.key}: enabled, verified")
    return lines


def unusable_models(models: ModelTable, served: list[str]) -> list[str]:
    """A line for each enabled model with an API id the key can't use (`GET /v1/models` does not list it)."""
    lines = []
    available = set(served)
    for spec in models.enabled():
        missing = sorted({mode.api_id for mode in spec.modes.values()} - available)
        if missing:
            lines.append(
                f"Model {spec.key}: the API key can't use {', '.join(missing)}; fix the id in MODELS_FILE "
                f"or disable the model (enabled = false)"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
