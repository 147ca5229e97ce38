"""The bot: a discord.py AutoShardedBot with the services handed in (nothing global), cogs loaded explicitly."""

from __future__ import annotations

import hashlib
import json
import logging

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.background import spawn
from bot.discord_app.context import AppContext, Services, attach_context
from bot.discord_app.tree import VideoCommandTree
from bot.discord_app.ui.history import HISTORY_ITEMS
from bot.discord_app.ui.views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.discord_app.cogs.video", "bot.discord_app.cogs.admin")
COMMANDS_HASH_KEY = "commands_hash"

# The bot never joins a voice channel, so discord.py's start-up warnings about its voice libraries (PyNaCl, davey)
# would only alarm operators; they are printed once per process by the first Client made, hence set at import.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def gateway_intents() -> discord.Intents:
    """Guilds only: commands and buttons arrive as interactions, which need no intent, and the bot reads no
    messages, members or presences; GUILDS keeps the guild, channel and role cache that permission checks use."""
    return discord.Intents(guilds=True)


def point_discord_at(api_base: str) -> None:
    """Send discord.py's REST calls (webhooks and interaction callbacks included) to `api_base`.

    With a REST proxy or in tests this is the one knob: the gateway URL is then discovered through it.
    """
    discord.http.Route.BASE = api_base.rstrip("/")


class VideoBot(commands.AutoShardedBot):
    def __init__(self, services: Services, *, track: bool = True) -> None:
        settings = services.settings
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=gateway_intents(),
            tree_cls=VideoCommandTree,
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) if settings.shard_ids else None,  # type: ignore[arg-type]
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.services = services
        attach_context(self, AppContext(services))
        self._track = track

    async def setup_hook(self) -> None:
        await self._discover_gateway()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(*DYNAMIC_ITEMS, *HISTORY_ITEMS)
        if self._track:
            spawn(self.services.tracker.run(), name="tracker")
            if self.services.retention is not None:
                spawn(self.services.retention.run(), name="image-retention")
            if self.services.settings.sync_commands_on_start:
                await self.sync_commands(force=False)

    async def _discover_gateway(self) -> None:
        # discord.py falls back to its built-in gateway address on a fresh identify; Discord asks clients to use
        # the one GET /gateway/bot returns, which is also the only one reachable through a REST proxy.
        try:
            _, url, _ = await self.http.get_bot_gateway()
        except discord.HTTPException as error:
            log.warning("gateway discovery failed (%s); using discord.py's default", error)
            return
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    def commands_fingerprint(self) -> str:
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_commands(self, *, force: bool) -> bool:
        """Register the slash commands with Discord when their definition changed (Discord caps creations)."""
        fingerprint = self.commands_fingerprint()
        if not force and await self.services.meta.get(COMMANDS_HASH_KEY) == fingerprint:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await self.services.meta.set(COMMANDS_HASH_KEY, fingerprint)
        log.info("synced %d slash commands", len(synced))
        return True

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("logged in as %s (%s) in %d guilds", self.user, self.user.id, len(self.guilds))

    async def close(self) -> None:
        await self.services.tracker.stop()
        if self.services.retention is not None:
            self.services.retention.stop()
        await super().close()
