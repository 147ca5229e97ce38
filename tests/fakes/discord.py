"""A fake Discord: REST under /api/v10 and a gateway websocket, on 127.0.0.1, for an unmodified discord.py.

Point a bot at it with `discord.http.Route.BASE = fake.api_base` and a `commands.AutoShardedBot` (shard_count
None): the bot reads the gateway URL from `GET /gateway/bot`. Tests build the world (users, roles, channels,
overwrites), inject interactions, script faults and assert on what was recorded::

    async with FakeDiscord() as fake:
        ...start the bot...
        await fake.wait_identified()
        sent = await fake.send_slash_command("video", "generate", options={"prompt": "a cat"})
        cb = await fake.wait_callback(sent)

Every recorded thing appends an `Event` and wakes `wait_for`, so waits are event-driven.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web

from tests.fakes.discord_gateway import RECONNECT, Gateway
from tests.fakes.discord_payloads import (
    attachment_payload,
    channel_payload,
    member_payload,
    role_payload,
    user_payload,
)
from tests.fakes.discord_rest import (
    Fault,
    RestApi,
    build_attachments,
    message_json_for,
    pings_for,
)
from tests.fakes.discord_state import (
    DEFAULT_EVERYONE,
    AttachmentSpec,
    CallbackRecord,
    CommandSync,
    Event,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    IdentifyRecord,
    Overwrite,
    Perm,
    Pings,
    RequestRecord,
    RouteLimit,
    SnowflakeFactory,
    UploadedFile,
)

__all__ = [
    "AttachmentSpec",
    "CallbackRecord",
    "CommandSync",
    "Event",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "IdentifyRecord",
    "Perm",
    "Pings",
    "RequestRecord",
    "UploadedFile",
]

T = TypeVar("T")

MESSAGE_ROUTE = "/channels/{channel_id}/messages/{message_id}"
MESSAGES_ROUTE = "/channels/{channel_id}/messages"

DEFAULT_TOKEN = "fake-discord-bot-token.not-a-secret"
MIB = 1024 * 1024
BOT_ROLE_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.USE_APPLICATION_COMMANDS
)


class FakeDiscord:
    """The fake server and its world. Use as `async with FakeDiscord() as fake:`."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        shard_count: int = 1,
        upload_limit: int | None = 10 * MIB,
        callback_deadline: float = 3.0,
        token_lifetime: float = 15 * 60,
        heartbeat_interval_ms: int = 10_000,
        nonce_window: float = 300.0,
        attachment_url_lifetime: float = 24 * 3600,
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        self.upload_limit = upload_limit
        self.callback_deadline = callback_deadline
        self.token_lifetime = token_lifetime
        self.nonce_window = nonce_window
        # How long a signed attachment URL works from when it is handed out (Discord: 24 h). Lower it before an
        # attachment is created (or refreshed) to get URLs that expire during a test.
        self.attachment_url_lifetime = attachment_url_lifetime
        self.refresh_calls: list[list[str]] = []  # the URLs of each POST /attachments/refresh-urls, in order
        self._url_key = secrets.token_bytes(16)
        self._ids = SnowflakeFactory()
        self._events: list[Event] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self.requests: list[RequestRecord] = []
        self.sent_429: Counter[str] = Counter()  # 429s the fake answered, by "METHOD /route template"
        self.command_syncs: list[CommandSync] = []
        self.identifies: list[IdentifyRecord] = []
        self.uploads: list[UploadedFile] = []
        self._callbacks: list[CallbackRecord] = []
        self._messages: dict[int, FakeMessage] = {}
        self._channels: dict[int, FakeChannel] = {}
        self._attachments: dict[int, FakeAttachment] = {}
        self._interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, Any, Any], int] = {}
        self._dms: dict[int, int] = {}
        self._nonces: dict[str, tuple[float, int]] = {}
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self._gateway = Gateway(self, heartbeat_interval_ms=heartbeat_interval_ms)
        self._gateway.on_sent = self._on_gateway_sent
        self._spool = Path(tempfile.mkdtemp(prefix="fake-discord-"))
        self._rest = RestApi(self, self._spool)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._background: set[asyncio.Task[bool]] = set()
        self._build_world()

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=1024**3)
        self._rest.install(app)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Close sockets, stop the server, remove spooled uploads."""
        await self._gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        shutil.rmtree(self._spool, ignore_errors=True)

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What the bot's DISCORD_API_BASE (discord.http.Route.BASE) must be set to."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- the world ----------------------------------------------------------------------------------------
    def _build_world(self) -> None:
        self.application_id = self._ids.next()
        self.bot_user = self._new_user("VideoBot", bot=True, user_id=self.application_id)
        self.owner = self._new_user("owner")
        self.guild = FakeGuild(id=self._ids.next(), name="Fake Guild", owner_id=self.owner.id)
        self.guilds[self.guild.id] = self.guild
        self.guild.roles[self.guild.id] = FakeRole(self.guild.id, "@everyone", int(DEFAULT_EVERYONE))
        self.moderator_role = self.add_role("Moderator", Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES, position=2)
        self.bot_role = self.add_role("VideoBot", BOT_ROLE_PERMISSIONS, position=1, managed=True)
        self.channel = self.add_channel("general")
        self.mod_channel = self.add_channel("moderators")
        self._add_member(self.owner, [])
        self._add_member(self.bot_user, [self.bot_role.id])
        self.alice = self.add_user("alice")
        self.bob = self.add_user("bob")
        self.moderator = self.add_user("mod", roles=[self.moderator_role])

    def _new_user(self, username: str, *, bot: bool = False, user_id: int | None = None) -> FakeUser:
        user = FakeUser(id=user_id or self._ids.next(), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def _add_member(self, user: FakeUser, roles: Sequence[int]) -> FakeMember:
        member = FakeMember(user=user, roles=list(roles), joined_at=time.time() - 30 * 86400)
        self.guild.members[user.id] = member
        return member

    @property
    def guild_id(self) -> int:
        return self.guild.id

    @property
    def channel_id(self) -> int:
        return self.channel.id

    def add_user(
        self, username: str, *, roles: Sequence[FakeRole | int] = (), joined_at: float | None = None
    ) -> FakeUser:
        """A new member of the guild (`joined_at` is wall-clock seconds; default 30 days ago)."""
        user = self._new_user(username)
        member = self._add_member(user, [r.id if isinstance(r, FakeRole) else r for r in roles])
        if joined_at is not None:
            member.joined_at = joined_at
        return user

    def add_user_role(self, user: FakeUser | int, role: FakeRole | int) -> None:
        member = self.guild.members[_id(user)]
        member.roles.append(_id(role))

    def add_role(self, name: str, permissions: int = 0, *, position: int = 1, managed: bool = False) -> FakeRole:
        """A role in the default guild (dispatches GUILD_ROLE_CREATE if a bot is connected)."""
        role = FakeRole(self._ids.next(), name, int(permissions), position=position, managed=managed)
        self.guild.roles[role.id] = role
        self._dispatch_soon("GUILD_ROLE_CREATE", {"guild_id": str(self.guild.id), "role": role_payload(role)})
        return role

    def add_channel(
        self, name: str, *, overwrites: Sequence[Overwrite] = (), type: int = 0, topic: str | None = None
    ) -> FakeChannel:
        """A text channel in the default guild (dispatches CHANNEL_CREATE if a bot is connected)."""
        channel = FakeChannel(
            id=self._ids.next(),
            name=name,
            type=type,
            guild_id=self.guild.id,
            position=len(self.guild.channels),
            overwrites=list(overwrites),
            topic=topic,
        )
        self.guild.channels[channel.id] = channel
        self._channels[channel.id] = channel
        self._dispatch_soon("CHANNEL_CREATE", channel_payload(channel))
        return channel

    def add_guild(
        self, name: str, *, shard: tuple[int, int] | None = None, members: Sequence[FakeUser] = ()
    ) -> FakeGuild:
        """Another guild the bot is in: the owner, the bot (with its managed role), `members` (no roles) and one
        text channel, #general. `shard=(shard_id, shard_count)` gives it an id Discord routes to that shard
        ((guild_id >> 22) % shard_count). Add guilds before the bot connects: none is announced to a live session."""
        guild_id = self._ids.next()
        # Snowflakes follow the clock: within a millisecond or so an id lands on the wanted shard.
        while shard is not None and (guild_id >> 22) % shard[1] != shard[0]:
            guild_id = self._ids.next()
        guild = FakeGuild(id=guild_id, name=name, owner_id=self.owner.id)
        guild.roles[guild.id] = FakeRole(guild.id, "@everyone", int(DEFAULT_EVERYONE))
        bot_role = FakeRole(self._ids.next(), "VideoBot", int(BOT_ROLE_PERMISSIONS), position=1, managed=True)
        guild.roles[bot_role.id] = bot_role
        joined = time.time() - 30 * 86400
        for user, roles in [(self.owner, []), (self.bot_user, [bot_role.id]), *((m, []) for m in members)]:
            guild.members[user.id] = FakeMember(user=user, roles=roles, joined_at=joined)
        channel = FakeChannel(id=self._ids.next(), name="general", guild_id=guild.id)
        guild.channels[channel.id] = channel
        self._channels[channel.id] = channel
        self.guilds[guild.id] = guild
        return guild

    def dispatched(self, event: str, *, shard: int) -> list[dict[str, Any]]:
        """The payloads of `event` (e.g. INTERACTION_CREATE) the gateway gave the sessions of `shard`."""
        return self._gateway.dispatched(event, shard)

    def set_overwrite(
        self, channel: FakeChannel | int, target: FakeUser | FakeRole | int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set (replace) the overwrite of a role or member on a channel (dispatches CHANNEL_UPDATE)."""
        ch = self._channels[_id(channel)]
        target_id = _id(target)
        kind = 0 if isinstance(target, FakeRole) or target_id in self.guild.roles else 1
        ch.overwrites = [o for o in ch.overwrites if o.id != target_id]
        ch.overwrites.append(Overwrite(target_id, kind, int(allow), int(deny)))
        self._dispatch_soon("CHANNEL_UPDATE", channel_payload(ch))

    def deny_bot(self, channel: FakeChannel | int, permissions: int) -> None:
        """Deny the bot's member the given permissions in a channel (e.g. Perm.ATTACH_FILES)."""
        self.set_overwrite(channel, self.bot_user.id, deny=int(permissions))

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's effective permissions in a channel (what app_permissions carries)."""
        return self.member_permissions(self.bot_user.id, channel_id)

    def member_permissions(self, user_id: int, channel_id: int) -> int:
        channel = self._channels[channel_id]
        if channel.guild_id is None:
            return int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
        return self.guilds[channel.guild_id].channel_permissions(user_id, channel)

    def attachment_url(self, att: FakeAttachment, lifetime: float | None = None) -> str:
        """A signed CDN URL for `att`, working for `lifetime` seconds (default `attachment_url_lifetime`)."""
        now = time.time()
        expires = int(now + (self.attachment_url_lifetime if lifetime is None else lifetime))
        path = f"/attachments/{att.id}/{att.filename}"
        query = f"ex={expires:x}&is={int(now):x}"
        return f"{self.base_url}{path}?{query}&hm={self._signature(path, query)}&"

    def url_signature_ok(self, path: str, query: str) -> bool:
        """Whether a CDN URL's path and query carry a valid signature that has not expired yet."""
        params = parse_qs(query)
        try:
            expires = int(params["ex"][0], 16)
            issued = int(params["is"][0], 16)
            signature = params["hm"][0]
        except (KeyError, IndexError, ValueError):
            return False
        expected = self._signature(path, f"ex={expires:x}&is={issued:x}")
        return hmac.compare_digest(signature, expected) and time.time() < expires

    def url_works(self, url: str) -> bool:
        """Whether the fake CDN would serve this URL now (signed, not expired, a known attachment)."""
        parts = urlsplit(url)
        path = unquote(parts.path)
        return url.startswith(self.base_url + "/attachments/") and self.url_signature_ok(path, parts.query)

    def refreshed_url(self, url: str) -> str:
        """What refresh-urls answers for `url`: a newly signed URL for a known attachment, else the URL itself."""
        segments = unquote(urlsplit(url).path).split("/")
        if not url.startswith(self.base_url + "/attachments/") or len(segments) != 4 or not segments[2].isdigit():
            return url
        att = self._attachments.get(int(segments[2]))
        if att is None or att.filename != segments[3]:
            return url
        return self.attachment_url(att)

    def _signature(self, path: str, query: str) -> str:
        return hmac.new(self._url_key, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()

    def interaction_upload_limit(self, inter: FakeInteraction) -> int | None:
        limit = inter.payload.get("attachment_size_limit")
        return int(limit) if limit is not None else self.upload_limit

    # ---- injecting interactions ---------------------------------------------------------------------------
    async def send_slash_command(
        self,
        name: str,
        subcommand: str | None = None,
        *,
        group: str | None = None,
        options: Mapping[str, Any] | None = None,
        attachments: Mapping[str, AttachmentSpec] | None = None,
        user: FakeUser | None = None,
        channel_id: int | None = None,
        member_permissions: int | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND interaction, shaped after the synced definition when there is one.

        Option values: str / int / float / bool, FakeUser (user option), FakeRole, FakeChannel; attachments are
        served by the fake. With a synced definition, unknown or missing required options raise ValueError.
        """
        channel = self._channels[channel_id or self.channel.id]
        definition, scope = self._find_command(name, channel.guild_id)
        leaf_defs = _leaf_option_defs(definition, group, subcommand) if definition else None
        resolved: dict[str, dict[str, Any]] = {}
        leaf: list[dict[str, Any]] = []
        for opt_name, value in (options or {}).items():
            leaf.append(self._option(opt_name, value, leaf_defs, resolved, channel))
        for opt_name, spec in (attachments or {}).items():
            att = self._serve_attachment(spec)
            resolved.setdefault("attachments", {})[str(att.id)] = attachment_payload(att)
            leaf.append({"name": opt_name, "type": 11, "value": str(att.id)})
        if leaf_defs is not None:
            given = {o["name"] for o in leaf}
            known = {d["name"] for d in leaf_defs}
            required = {d["name"] for d in leaf_defs if d.get("required")}
            if given - known or required - given:
                raise ValueError(f"/{name} options {sorted(given)} do not fit {sorted(known)} (required {required})")
        opts: list[dict[str, Any]] = leaf
        if subcommand is not None:
            opts = [{"type": 1, "name": subcommand, "options": leaf}]
        if group is not None:
            opts = [{"type": 2, "name": group, "options": opts}]
        data: dict[str, Any] = {
            "id": str(definition["id"]) if definition else str(self._ids.next()),
            "name": name,
            "type": 1,
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._inject(
            2, data, user or self.alice, channel, member_permissions, attachment_size_limit, locale
        )

    async def send_component(
        self,
        custom_id: str,
        message_id: int,
        *,
        user: FakeUser | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        member_permissions: int | None = None,
        attachment_size_limit: int | None = None,
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT interaction (a button press by default) on a stored message."""
        message = self._messages[message_id]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        channel = self._channels[message.channel_id]
        return await self._inject(
            3,
            data,
            user or self.alice,
            channel,
            member_permissions,
            attachment_size_limit,
            "en-US",
            message=message,
        )

    async def send_modal_submit(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: FakeUser | None = None,
        channel_id: int | None = None,
        message_id: int | None = None,
        member_permissions: int | None = None,
        attachment_size_limit: int | None = None,
    ) -> FakeInteraction:
        """Dispatch a MODAL_SUBMIT; the components mirror the modal the bot sent with that custom_id.

        `values` maps each input's custom_id to its text (or a list for selects).
        """
        modal = next(
            (c for c in reversed(self._callbacks) if c.type == 9 and c.data.get("custom_id") == custom_id), None
        )
        components = _submitted_components(modal.data.get("components", []) if modal else None, values)
        message = self._messages.get(message_id) if message_id else None
        channel = self._channels[message.channel_id if message else channel_id or self.channel.id]
        return await self._inject(
            5,
            {"custom_id": custom_id, "components": components},
            user or self.alice,
            channel,
            member_permissions,
            attachment_size_limit,
            "en-US",
            message=message,
        )

    def modal(self, interaction: FakeInteraction | int) -> dict[str, Any] | None:
        """The modal (custom_id, title, components) the bot answered an interaction with, if any."""
        return next((c.data for c in self.callbacks(interaction) if c.type == 9), None)

    async def _inject(
        self,
        kind: int,
        data: dict[str, Any],
        user: FakeUser,
        channel: FakeChannel,
        member_permissions: int | None,
        attachment_size_limit: int | None,
        locale: str,
        *,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        iid = self._ids.next()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        limit = attachment_size_limit if attachment_size_limit is not None else self.upload_limit
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(user.id)},
            "context": 0 if guild else 1,
            "attachment_size_limit": limit if limit is not None else 10 * MIB,
            "app_permissions": str(self.bot_permissions(channel.id)),
            "channel_id": str(channel.id),
            "channel": self._interaction_channel(channel, user),
        }
        if guild is not None:
            member = guild.members.get(user.id) or FakeMember(user=user)
            perms = member_permissions
            if perms is None:
                perms = guild.channel_permissions(user.id, channel)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.locale, "features": list(guild.features)},
                guild_locale=guild.locale,
                member=member_payload(member, permissions=perms),
            )
        else:
            payload["user"] = user_payload(user)
        if message is not None:
            payload["message"] = self._message_json(message)
        inter = FakeInteraction(
            id=iid,
            token=token,
            type=kind,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            user=user,
            payload=payload,
            message_id=message.id if message else None,
        )
        self._interactions[iid] = inter
        self._by_token[token] = inter
        self._record("interaction", inter)
        if not await self._gateway.dispatch("INTERACTION_CREATE", payload, guild_id=channel.guild_id):
            raise RuntimeError("no bot session on the gateway to receive the interaction")
        return inter

    def _interaction_channel(self, channel: FakeChannel, user: FakeUser) -> dict[str, Any]:
        data = channel_payload(channel, recipient=user if channel.is_dm else None)
        if channel.guild_id is not None:
            data["permissions"] = str(self.member_permissions(user.id, channel.id))
        return data

    def _on_gateway_sent(self, event: str, data: dict[str, Any]) -> None:
        if event == "INTERACTION_CREATE":
            inter = self._interactions.get(int(data["id"]))
            if inter is not None and inter.sent_at is None:
                inter.sent_at = time.monotonic()
        elif event == "GUILD_CREATE":
            self._record("guild_create", int(data["id"]))

    def _find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any] | None, int | None]:
        if guild_id is not None:
            for cmd in self._commands.get(guild_id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, guild_id
        for cmd in self._commands.get(None, []):
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd, None
        return None, None

    def _option(
        self,
        name: str,
        value: Any,
        defs: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        channel: FakeChannel,
    ) -> dict[str, Any]:
        declared = next((d for d in defs or [] if d["name"] == name), None)
        raw: object
        if isinstance(value, FakeUser):
            resolved.setdefault("users", {})[str(value.id)] = user_payload(value)
            member = self.guild.members.get(value.id)
            if member is not None:
                partial = member_payload(member, permissions=self.member_permissions(value.id, channel.id))
                for key in ("user", "deaf", "mute"):
                    partial.pop(key)
                resolved.setdefault("members", {})[str(value.id)] = partial
            kind, raw = 6, str(value.id)
        elif isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[str(value.id)] = role_payload(value)
            kind, raw = 8, str(value.id)
        elif isinstance(value, FakeChannel):
            data = channel_payload(value) | {"permissions": str(self.bot_permissions(value.id))}
            resolved.setdefault("channels", {})[str(value.id)] = data
            kind, raw = 7, str(value.id)
        elif isinstance(value, bool):
            kind, raw = 5, value
        elif isinstance(value, int):
            kind, raw = 4, value
        elif isinstance(value, float):
            kind, raw = 10, value
        else:
            kind, raw = 3, str(value)
        if declared is not None:
            kind = int(declared["type"])
        return {"name": name, "type": kind, "value": raw}

    def serve_attachment(self, spec: AttachmentSpec) -> FakeAttachment:
        """A file on the fake CDN, as if a member had uploaded it; its `url` is signed (see attachment_url)."""
        return self._serve_attachment(spec)

    def _serve_attachment(self, spec: AttachmentSpec) -> FakeAttachment:
        att = FakeAttachment.from_bytes(
            self._ids.next(),
            spec.filename,
            spec.data,
            "",
            content_type=spec.content_type,
            width=spec.width,
            height=spec.height,
        )
        att.url = self.attachment_url(att)
        self._attachments[att.id] = att
        return att

    # ---- faults -------------------------------------------------------------------------------------------
    def rate_limit(
        self,
        route: str,
        *,
        method: str | None = None,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with 429 (Discord headers and body)."""
        return self._fault(Fault(method, route, 429, 0, "", times, retry_after, is_global))

    def fail(
        self,
        route: str,
        *,
        method: str | None = None,
        status: int = 500,
        code: int = 0,
        message: str = "500: Internal Server Error",
        times: int | None = 1,
    ) -> Fault:
        """Answer matching requests with an error envelope (`times` None = until `clear_faults`)."""
        return self._fault(Fault(method, route, status, code, message, times))

    def delay(self, route: str, seconds: float, *, method: str | None = None, times: int | None = None) -> Fault:
        """Sleep `seconds` before answering matching requests."""
        return self._fault(Fault(method, route, 0, times=times, delay=seconds))

    def _fault(self, fault: Fault) -> Fault:
        self._rest.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._rest.faults.clear()

    def edit_limit(self, per: int = 5, seconds: float = 5.0) -> RouteLimit:
        """Discord's per-channel limit on editing messages (PATCH /channels/{id}/messages/{mid}): `per` edits in
        a window of `seconds`. Each answer carries the X-RateLimit-* headers discord.py paces itself by; an edit
        past the limit gets Discord's 429, changes nothing and is counted in `sent_429`."""
        return self._limit("PATCH", MESSAGE_ROUTE, per, seconds)

    def post_limit(self, per: int = 5, seconds: float = 5.0) -> RouteLimit:
        """The same for posting messages (POST /channels/{id}/messages), a bucket of its own, as on Discord."""
        return self._limit("POST", MESSAGES_ROUTE, per, seconds)

    def lift_limits(self) -> None:
        """Switch every per-channel limit off again (their windows are forgotten)."""
        self._rest.limits.clear()
        self._rest._windows.clear()

    def _limit(self, method: str, route: str, per: int, seconds: float) -> RouteLimit:
        # Discord's bucket hashes are opaque and the same in every channel: one per method and route here.
        bucket = hashlib.sha256(f"{method} {route}".encode()).hexdigest()[:32]
        limit = RouteLimit(method, route, per, seconds, bucket)
        self._rest.limits[(method, route)] = limit
        return limit

    def set_upload_limit(self, limit: int | None) -> None:
        """Total file bytes per request above which the fake answers 413 (code 40005)."""
        self.upload_limit = limit

    def forbid_channel(self, channel: FakeChannel | int, code: int = 50013) -> None:
        """Every request on the channel answers 403 with `code` (50013 Missing Permissions / 50001 Missing Access)."""
        self._channels[_id(channel)].forbidden_code = code

    def allow_channel(self, channel: FakeChannel | int) -> None:
        self._channels[_id(channel)].forbidden_code = None

    async def delete_message(self, message: FakeMessage | int) -> None:
        """Delete a message as a moderator would (later requests get 404 10008; MESSAGE_DELETE dispatched)."""
        await self._delete(self._messages[_id(message)])

    async def delete_channel(self, channel: FakeChannel | int) -> None:
        """Delete a channel (requests get 404 10003; CHANNEL_DELETE dispatched)."""
        ch = self._channels[_id(channel)]
        ch.deleted = True
        if ch.guild_id is not None:
            await self._gateway.dispatch("CHANNEL_DELETE", channel_payload(ch), guild_id=ch.guild_id)
        self._record("channel_delete", ch)

    def close_dms(self, user: FakeUser | int) -> None:
        """Sending to this user's DM channel answers 403 50007 (DMs disabled)."""
        self._channels[self._dm_channel(_id(user)).id].dms_closed = True

    def expire_interaction(self, interaction: FakeInteraction) -> None:
        """The interaction's token stops working (webhook calls get 401 50027), as after 15 minutes."""
        interaction.expired = True

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the bot's websocket(s); 4000 lets discord.py resume."""
        await self._gateway.drop(code)

    def invalidate_sessions(self) -> None:
        """Make sessions non-resumable: the next RESUME gets INVALID_SESSION and the bot re-identifies."""
        self._gateway.invalidate()

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT (discord.py closes and resumes)."""
        await self._gateway.send_op(RECONNECT)

    async def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None = None) -> bool:
        """Send an arbitrary DISPATCH event to the bot."""
        return await self._gateway.dispatch(event, data, guild_id=guild_id)

    # ---- queries ------------------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        return list(self._events)

    @property
    def heartbeats(self) -> int:
        return self._gateway.heartbeats

    def messages(
        self, channel_id: int | None = None, *, include_deleted: bool = False, include_ephemeral: bool = False
    ) -> list[FakeMessage]:
        """Messages in a channel (default: the default channel), oldest first; like Discord, no ephemerals."""
        cid = channel_id or self.channel.id
        return sorted(
            (
                m
                for m in self._messages.values()
                if m.channel_id == cid and (include_deleted or not m.deleted) and (include_ephemeral or not m.ephemeral)
            ),
            key=lambda m: m.id,
        )

    def message(self, message_id: int) -> FakeMessage | None:
        return self._messages.get(message_id)

    def dm_messages(self, user: FakeUser | int) -> list[FakeMessage]:
        """Messages the bot sent to a user's DM channel."""
        cid = self._dms.get(_id(user))
        return self.messages(cid) if cid else []

    def threads(self, parent: FakeChannel | int | None = None) -> list[FakeChannel]:
        pid = _id(parent) if parent is not None else self.channel.id
        return [c for c in self._channels.values() if c.is_thread and c.parent_id == pid]

    def interaction(self, interaction_id: int) -> FakeInteraction | None:
        return self._interactions.get(interaction_id)

    def callbacks(self, interaction: FakeInteraction | int) -> list[CallbackRecord]:
        iid = _id(interaction)
        return [c for c in self._callbacks if c.interaction_id == iid]

    def followups(self, token: FakeInteraction | str) -> list[FakeMessage]:
        """Messages created through POST /webhooks/{app}/{token}, including a followup that replaced a defer."""
        inter = self._by_token[token if isinstance(token, str) else token.token]
        return [self._messages[mid] for mid in inter.followup_ids]

    def original(self, token: FakeInteraction | str) -> FakeMessage | None:
        """The interaction's original response as last edited (None before a message response)."""
        inter = self._by_token[token if isinstance(token, str) else token.token]
        return self._messages.get(inter.original_id) if inter.original_id else None

    def pings(self, message: FakeMessage | int) -> Pings:
        """Who the message actually notified (allowed_mentions applied)."""
        return self._messages[_id(message)].pings

    def requests_to(self, route: str, method: str | None = None) -> list[RequestRecord]:
        """Recorded requests whose route template (e.g. '/channels/{channel_id}/messages') or path matches."""
        import fnmatch

        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (r.route == route or fnmatch.fnmatchcase(r.path.removeprefix("/api/v10"), route))
        ]

    def count_429(self, route: str | None = None, method: str | None = None) -> int:
        """429s the fake answered (rate limits and scripted faults alike), for one route template or all."""
        return sum(
            n
            for key, n in self.sent_429.items()
            if (method is None or key.startswith(method.upper() + " ")) and (route is None or key.endswith(" " + route))
        )

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The currently registered commands (global, or the guild's)."""
        return list(self._commands.get(guild_id, []))

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until `predicate()` is truthy (re-checked on every recorded event) and return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{e.kind}" for e in self._events[-12:])
                raise TimeoutError(f"condition not met within {timeout}s; recent events: {recent}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    async def wait_identified(self, timeout: float = 10.0, *, count: int = 1) -> IdentifyRecord:  # noqa: ASYNC109
        """Wait until `count` successful IDENTIFYs happened and their guilds were sent (the bot is usable)."""

        def ready() -> IdentifyRecord | None:
            ok = [i for i in self.identifies if i.op == 2 and i.token_ok]
            return ok[count - 1] if len(ok) >= count else None

        return await self.wait_for(ready, timeout)

    async def wait_callback(self, interaction: FakeInteraction | int, timeout: float = 5.0) -> CallbackRecord:  # noqa: ASYNC109
        """Wait for the interaction's first callback."""
        found = await self.wait_for(lambda: self.callbacks(interaction), timeout)
        return found[0]

    async def wait_message(
        self,
        predicate: Callable[[FakeMessage], bool],
        channel_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """Wait for a (non-deleted) message in a channel matching `predicate`; returns the first."""

        def find() -> FakeMessage | None:
            return next((m for m in self.messages(channel_id) if predicate(m)), None)

        return await self.wait_for(find, timeout)

    # ---- recording (used by the REST and gateway modules) --------------------------------------------------
    def _record(self, kind: str, data: Any = None) -> None:
        self._events.append(Event(kind, time.monotonic(), data))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _add_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self._record("request", record)

    def _count_429(self, method: str, route: str) -> None:
        self.sent_429[f"{method} {route}"] += 1

    def _add_upload(self, upload: UploadedFile) -> None:
        self.uploads.append(upload)
        self._record("upload", upload)

    def _add_callback(self, record: CallbackRecord) -> None:
        self._callbacks.append(record)
        self._record("callback", record)

    def _add_sync(self, sync: CommandSync) -> None:
        self.command_syncs.append(sync)
        self._record("command_sync", sync)

    def _add_identify(self, record: IdentifyRecord) -> None:
        self.identifies.append(record)
        self._record("identify" if record.op == 2 else "resume", record)

    def _dispatch_soon(self, event: str, data: dict[str, Any]) -> None:
        """World edits are sync; tell a connected bot in the background."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._gateway.session_for(self.guild.id if hasattr(self, "guild") else None) is None:
            return
        task = loop.create_task(self._gateway.dispatch(event, data, guild_id=self.guild.id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- messages (used by the REST module) ----------------------------------------------------------------
    def _message_json(self, msg: FakeMessage) -> dict[str, Any]:
        return message_json_for(self, msg)

    def _dm_channel(self, user_id: int) -> FakeChannel:
        cid = self._dms.get(user_id)
        if cid is None:
            channel = FakeChannel(id=self._ids.next(), name="", type=1, recipient_id=user_id)
            self._channels[channel.id] = channel
            self._dms[user_id] = cid = channel.id
        return self._channels[cid]

    def _nonce_hit(self, nonce: str) -> FakeMessage | None:
        hit = self._nonces.get(nonce)
        if hit is None or time.monotonic() - hit[0] > self.nonce_window:
            return None
        return self._messages.get(hit[1])

    def _new_message(
        self,
        channel: FakeChannel,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        message_reference: dict[str, Any] | None = None,
        replied_user_id: int | None = None,
        type: int = 0,
    ) -> FakeMessage:
        msg = FakeMessage(
            id=self._ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.bot_user,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            flags=int(body.get("flags") or 0),
            attachments=build_attachments(self, body.get("attachments"), files, []),
            message_reference=message_reference,
            allowed_mentions=body.get("allowed_mentions"),
            pings=pings_for(self, body, replied_user_id),
            type=type,
        )
        if channel.guild_id is not None and msg.embeds:
            msg.embeds_suppressed = not self.bot_permissions(channel.id) & Perm.EMBED_LINKS
        msg.history.append(dict(body))
        self._messages[msg.id] = msg
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[str(nonce)] = (time.monotonic(), msg.id)
        return msg

    def _new_interaction_message(
        self, inter: FakeInteraction, body: dict[str, Any], files: list[UploadedFile]
    ) -> FakeMessage:
        channel = self._channels[inter.channel_id]
        msg = self._new_message(channel, body, files, type=20 if inter.type == 2 else 0)
        msg.interaction_token = inter.token
        msg.interaction_id = inter.id
        msg.webhook_id = self.application_id
        msg.embeds_suppressed = False
        return msg

    def _apply_edit(
        self, msg: FakeMessage, body: dict[str, Any], files: list[UploadedFile], *, clear_loading: bool = False
    ) -> None:
        if "content" in body:
            msg.content = str(body["content"] or "")
        if "embeds" in body:
            msg.embeds = list(body["embeds"] or [])
        if "components" in body:
            msg.components = list(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            # Only SUPPRESS_EMBEDS (4) and the components-v2 bit can change on edit; ephemeral stays.
            keep = msg.flags & ~(4 | 32768)
            msg.flags = keep | (int(body["flags"]) & (4 | 32768))
        if clear_loading:
            msg.flags &= ~128
        if "attachments" in body or files:
            msg.attachments = build_attachments(self, body.get("attachments"), files, msg.attachments)
        if "allowed_mentions" in body:
            msg.allowed_mentions = body["allowed_mentions"]
        msg.edited_at = time.monotonic()
        msg.edited_wall = time.time()
        msg.edits += 1
        msg.history.append(dict(body))

    async def _message_created(self, msg: FakeMessage) -> None:
        self._record("message_create", msg)
        if not msg.ephemeral:
            data = self._message_json(msg)
            await self._gateway.dispatch("MESSAGE_CREATE", data, guild_id=msg.guild_id)

    async def _message_updated(self, msg: FakeMessage) -> None:
        self._record("message_update", msg)
        if not msg.ephemeral:
            await self._gateway.dispatch("MESSAGE_UPDATE", self._message_json(msg), guild_id=msg.guild_id)

    async def _delete(self, msg: FakeMessage) -> None:
        msg.deleted = True
        msg.deleted_at = time.monotonic()
        self._record("message_delete", msg)
        if not msg.ephemeral:
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            await self._gateway.dispatch("MESSAGE_DELETE", data, guild_id=msg.guild_id)

    async def _create_thread(
        self, parent: FakeChannel, name: str, kind: int, *, thread_id: int | None = None
    ) -> FakeChannel:
        thread = FakeChannel(
            id=thread_id or self._ids.next(),
            name=name,
            type=kind,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
        )
        self._channels[thread.id] = thread
        if parent.guild_id is not None:
            self.guilds[parent.guild_id].channels[thread.id] = thread
        self._record("thread_create", thread)
        await self._gateway.dispatch(
            "THREAD_CREATE", channel_payload(thread) | {"newly_created": True}, guild_id=parent.guild_id
        )
        return thread


def _id(obj: Any) -> int:
    return int(obj if isinstance(obj, int) else obj.id)


def _leaf_option_defs(
    definition: dict[str, Any], group: str | None, subcommand: str | None
) -> list[dict[str, Any]] | None:
    options: list[dict[str, Any]] = definition.get("options") or []
    for wanted, kind in ((group, 2), (subcommand, 1)):
        if wanted is None:
            continue
        node = next((o for o in options if o["name"] == wanted and o["type"] == kind), None)
        if node is None:
            raise ValueError(f"/{definition['name']} has no {'group' if kind == 2 else 'subcommand'} {wanted!r}")
        options = node.get("options") or []
    return options


def _submitted_components(
    modal_components: list[dict[str, Any]] | None, values: Mapping[str, str | Sequence[str]]
) -> list[dict[str, Any]]:
    """What Discord sends back for a modal: same rows/labels, inputs carrying the member's values."""

    def filled(component: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": component["type"], "custom_id": component["custom_id"]}
        value = values.get(component["custom_id"], "")
        if isinstance(value, str):
            out["value"] = value
        else:
            out["values"] = list(value)
        return out

    if modal_components is None:
        return [{"type": 1, "components": [filled({"type": 4, "custom_id": cid})]} for cid in values]
    result: list[dict[str, Any]] = []
    for comp in modal_components:
        if comp.get("type") == 1:
            inner = [filled(c) for c in comp.get("components", []) if "custom_id" in c]
            result.append({"type": 1, "components": inner})
        elif comp.get("type") == 18 and "custom_id" in comp.get("component", {}):
            result.append({"type": 18, "component": filled(comp["component"])})
    return result
