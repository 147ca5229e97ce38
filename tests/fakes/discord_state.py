"""The world the fake Discord keeps: users, guilds, roles, channels, messages and what was recorded.

Plain dataclasses, no I/O. `discord_payloads` turns them into the JSON Discord sends; the REST and gateway
modules mutate them; tests read them through `FakeDiscord`'s query methods.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.discord_components import ATTACHMENT_SCHEME, gallery_items, texts

DISCORD_EPOCH_MS = 1420070400000
HEAD_BYTES = 1024


class Perm(enum.IntFlag):
    """Discord permission bits the fake cares about (values as in the API)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1

# What @everyone gets in a fresh server, restricted to the bits above.
DEFAULT_EVERYONE = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)


class SnowflakeFactory:
    """Real-looking, strictly increasing snowflakes (discord.py derives `created_at` from them)."""

    def __init__(self) -> None:
        self._last = 0
        self._counter = itertools.count()

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (next(self._counter) & 0x3FFFFF)
        self._last = max(self._last + 1, candidate)
        return self._last


@dataclass
class FakeUser:
    """A Discord user; `bot` marks the application's own user."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeRole:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    mentionable: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class Overwrite:
    """A channel permission overwrite; type 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class FakeChannel:
    """A guild text channel, a thread (type 11/12) or a DM (type 1)."""

    id: int
    name: str
    type: int = 0
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    recipient_id: int | None = None
    owner_id: int | None = None
    topic: str | None = None
    deleted: bool = False
    forbidden_code: int | None = None
    dms_closed: bool = False

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)

    @property
    def is_dm(self) -> bool:
        return self.type == 1


@dataclass
class FakeMember:
    """A user's membership of a guild."""

    user: FakeUser
    roles: list[int] = field(default_factory=list)
    joined_at: float = field(default_factory=time.time)
    nick: str | None = None


@dataclass
class FakeGuild:
    """A guild with its roles, channels and members."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    premium_tier: int = 0
    features: list[str] = field(default_factory=list)
    locale: str = "en-US"

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def base_permissions(self, user_id: int) -> int:
        """Guild-level permissions of a member (no channel overwrites)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.everyone.permissions
        for role_id in member.roles if member else []:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def channel_permissions(self, user_id: int, channel: FakeChannel) -> int:
        """Discord's algorithm: base, then @everyone, role and member overwrites in that order."""
        perms = self.base_permissions(user_id)
        if perms == ALL_PERMISSIONS:
            return perms
        source = channel
        if channel.is_thread and channel.parent_id in self.channels:
            source = self.channels[channel.parent_id]
        member = self.members.get(user_id)
        role_ids = set(member.roles) if member else set()
        by_target = {ow.id: ow for ow in source.overwrites}
        everyone = by_target.get(self.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for ow in source.overwrites:
            if ow.type == 0 and ow.id in role_ids:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = by_target.get(user_id)
        if own is not None and own.type == 1:
            perms = (perms & ~own.deny) | own.allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        return perms


@dataclass(frozen=True)
class AttachmentSpec:
    """An attachment a test puts on a slash command (served by the fake at its URL)."""

    filename: str
    data: bytes
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class FakeAttachment:
    """A file the fake serves: uploaded by the bot (spooled to disk) or given by a test."""

    id: int
    filename: str
    size: int
    sha256: str
    head: bytes
    url: str
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        """The full bytes (read from the spool file for uploads)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    @classmethod
    def from_bytes(cls, id: int, filename: str, data: bytes, url: str, **extra: Any) -> FakeAttachment:
        return cls(
            id=id,
            filename=filename,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            head=data[:HEAD_BYTES],
            url=url,
            data=data,
            **extra,
        )


@dataclass(frozen=True)
class Pings:
    """Who a message actually notifies, after allowed_mentions (what a member would see as a ping)."""

    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    everyone: bool = False


@dataclass
class FakeMessage:
    """A message as the fake stores it; `payload()` in discord_payloads gives the API shape."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    attachments: list[FakeAttachment] = field(default_factory=list)
    message_reference: dict[str, Any] | None = None
    allowed_mentions: dict[str, Any] | None = None
    nonce: str | None = None
    pings: Pings = field(default_factory=Pings)
    type: int = 0
    created_at: float = field(default_factory=time.monotonic)
    edited_at: float | None = None
    edited_wall: float | None = None
    deleted: bool = False
    deleted_at: float | None = None
    edits: int = 0
    interaction_token: str | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    embeds_suppressed: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def loading(self) -> bool:
        return bool(self.flags & 128)

    @property
    def reply_to(self) -> int | None:
        """Id of the message this one replies to."""
        if self.message_reference is None:
            return None
        mid = self.message_reference.get("message_id")
        return int(mid) if mid is not None else None

    @property
    def file_names(self) -> list[str]:
        return [a.filename for a in self.attachments]

    @property
    def is_components_v2(self) -> bool:
        """Laid out by Components V2 (flag 1 << 15): no content or embeds, the components are the message."""
        return bool(self.flags & (1 << 15))

    @property
    def texts(self) -> list[str]:
        """The text displays of a V2 message in reading order (what a member reads on it)."""
        return texts(self.components)

    @property
    def gallery(self) -> list[tuple[str, str]]:
        """The media gallery items of a V2 message: (the attached file's name, or the URL; the description)."""
        return [
            (str(item["media"]["url"]).removeprefix(ATTACHMENT_SCHEME), str(item.get("description") or ""))
            for item in gallery_items(self.components)
        ]

    @property
    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, in order (buttons, selects, nested V2 layouts)."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "custom_id" in node:
                    found.append(str(node["custom_id"]))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.components)
        return found


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the fake received."""

    method: str
    path: str
    route: str
    time: float
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class UploadedFile:
    """A multipart file part as received (bytes on disk, hash and head kept)."""

    field_name: str
    filename: str
    size: int
    sha256: str
    head: bytes
    path: Path
    content_type: str | None = None


@dataclass
class CallbackRecord:
    """One POST /interactions/{id}/{token}/callback."""

    interaction_id: int
    token: str
    type: int
    data: dict[str, Any]
    time: float
    status: int
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & 64)


@dataclass(frozen=True)
class CommandSync:
    """One bulk overwrite of application commands (guild_id None = global)."""

    guild_id: int | None
    commands: list[dict[str, Any]]
    time: float


@dataclass(frozen=True)
class IdentifyRecord:
    """An IDENTIFY (op 2) or RESUME (op 6) the gateway received."""

    op: int
    time: float
    session_id: str | None
    shard: tuple[int, int]
    intents: int | None = None
    token_ok: bool = True


@dataclass
class FakeInteraction:
    """An interaction the test injected; what it returns to the test."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user: FakeUser
    payload: dict[str, Any]
    sent_at: float | None = None
    responded: bool = False
    expired: bool = False
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    message_id: int | None = None


@dataclass(frozen=True)
class Event:
    """A timestamped entry in the fake's event log (every recorded thing produces one)."""

    kind: str
    time: float
    data: Any = None


@dataclass(frozen=True)
class RouteLimit:
    """A per-channel limit on one route, as Discord keeps them: `per` requests in a window of `seconds`.

    The window is Discord's fixed one: it opens at the first request after the last one closed. `bucket` is the
    X-RateLimit-Bucket hash, the same for every channel (the channel id is the bucket's major parameter).
    """

    method: str
    route: str  # the route template under /api/v10, e.g. "/channels/{channel_id}/messages/{message_id}"
    per: int
    seconds: float
    bucket: str


@dataclass
class RateWindow:
    """One channel's use of a limited route in the current window."""

    resets: float  # time.monotonic() at which the window closes
    used: int = 0
