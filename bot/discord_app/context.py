"""What the Discord layer's handlers hold of the running bot: one small context, set on the client by the bot.

Cogs, flows and views reach the services through `context_of(interaction)`, never through the bot class, so
none of them imports `bot.discord_app.client` (which imports them to load the cogs and register the buttons).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import discord

from bot.domain.models import ModelTable
from bot.media import VideoWorker
from bot.services.approvals import ApprovalService
from bot.services.chains import ChainService
from bot.services.generation import GenerationService
from bot.services.intake import Intake
from bot.services.retention import ImageRetention
from bot.services.tracker import Tracker
from bot.settings import Settings
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.meta import MetaRepository
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository

_ATTRIBUTE = "app_context"


@dataclass
class Services:
    """Everything the Discord layer may call; built in `bot.__main__` and handed to the bot."""

    settings: Settings
    http: aiohttp.ClientSession  # for attachment downloads; the API client has its own
    renders: RenderRepository
    images: ImageStore
    config: GuildConfigRepository
    meta: MetaRepository
    models: ModelTable
    holds: ModelHolds
    generation: GenerationService
    approvals: ApprovalService
    tracker: Tracker
    clock: Callable[[], datetime]
    intake: Intake = field(default_factory=Intake)  # what a request may cost before it is reserved
    retention: ImageRetention | None = None  # purges stored images no render needs (run while tracking)
    media: VideoWorker | None = None  # video work off the event loop: last frames, re-encodes, stitches
    chains: ChainService | None = None  # Continue and Stitch (None: their buttons say they are unavailable)


@dataclass(frozen=True)
class AppContext:
    """What a handler needs from the running bot: its services (nothing else of the bot is theirs to reach)."""

    services: Services


class ContextMissing(RuntimeError):
    """The client was not set up by the bot (`attach_context` was never called on it)."""


def attach_context(client: discord.Client, context: AppContext) -> None:
    """Make `context` what `context_of` finds for every interaction this client receives (the bot does this)."""
    setattr(client, _ATTRIBUTE, context)


def client_context(client: discord.Client) -> AppContext:
    """The context the bot set on `client`; a clear error when it set none (a client built some other way)."""
    context = getattr(client, _ATTRIBUTE, None)
    if not isinstance(context, AppContext):
        raise ContextMissing(
            f"{type(client).__name__} carries no AppContext: the bot sets one with attach_context() when it is built"
        )
    return context


def context_of(interaction: discord.Interaction) -> AppContext:
    """The context of the bot that received `interaction`."""
    return client_context(interaction.client)
