"""The fake gateway: one websocket per shard connection, speaking plain-text JSON frames.

Sessions outlive their sockets (as on Discord): events dispatched while a bot is disconnected are kept in
the session's log and replayed on RESUME; an invalidated session answers RESUME with INVALID_SESSION so the
client identifies again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_payloads import guild_create_payload, user_payload
from tests.fakes.discord_state import IdentifyRecord

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 7, 9, 10, 11

GUILD_MEMBERS_INTENT = 1 << 1

# Which intent a dispatched event needs (events not listed always go through).
EVENT_INTENTS = {
    "MESSAGE_CREATE": (1 << 9, 1 << 12),
    "MESSAGE_UPDATE": (1 << 9, 1 << 12),
    "MESSAGE_DELETE": (1 << 9, 1 << 12),
    "CHANNEL_CREATE": (1 << 0, 1 << 0),
    "CHANNEL_UPDATE": (1 << 0, 1 << 0),
    "CHANNEL_DELETE": (1 << 0, 1 << 0),
    "THREAD_CREATE": (1 << 0, 1 << 0),
    "GUILD_ROLE_CREATE": (1 << 0, 1 << 0),
    "GUILD_ROLE_UPDATE": (1 << 0, 1 << 0),
}


@dataclass
class GatewaySession:
    """A gateway session: survives socket drops until invalidated."""

    session_id: str
    shard: tuple[int, int]
    intents: int
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    invalid: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Gateway:
    """Serves /gateway and routes dispatches to the session owning the guild's shard."""

    def __init__(self, fake: FakeDiscord, *, heartbeat_interval_ms: int) -> None:
        self.fake = fake
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, GatewaySession] = {}
        self.by_shard: dict[int, GatewaySession] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self.heartbeats = 0
        self.on_sent: Callable[[str, dict[str, Any]], None] | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        self.sockets.add(ws)
        self.fake._record("gateway_connect", dict(request.query))
        session: GatewaySession | None = None
        try:
            await ws.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                session = await self._on_frame(ws, frame, session)
        finally:
            self.sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
            self.fake._record("gateway_disconnect", {"code": ws.close_code})
        return ws

    async def _on_frame(
        self, ws: web.WebSocketResponse, frame: dict[str, Any], session: GatewaySession | None
    ) -> GatewaySession | None:
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))
        elif op == IDENTIFY:
            return await self._identify(ws, data or {})
        elif op == RESUME:
            return await self._resume(ws, data or {})
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession | None:
        token_ok = data.get("token") == self.fake.token
        raw_shard = data.get("shard") or [0, 1]
        shard = (int(raw_shard[0]), int(raw_shard[1]))
        if not token_ok:
            self.fake._add_identify(IdentifyRecord(IDENTIFY, time.monotonic(), None, shard, None, token_ok=False))
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = GatewaySession(secrets.token_hex(16), shard, int(data.get("intents") or 0), ws=ws)
        old = self.by_shard.get(shard[0])
        if old is not None:
            old.invalid = True
        self.sessions[session.session_id] = session
        self.by_shard[shard[0]] = session
        guilds = [g for g in self.fake.guilds.values() if (g.id >> 22) % shard[1] == shard[0]]
        ready = {
            "v": 10,
            "user": user_payload(self.fake.bot_user),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.fake.gateway_url,
            "shard": list(shard),
            "application": {"id": str(self.fake.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        await self._send(session, "READY", ready)
        for guild in guilds:
            payload = guild_create_payload(guild, all_members=bool(session.intents & GUILD_MEMBERS_INTENT))
            await self._send(session, "GUILD_CREATE", payload)
        self.fake._add_identify(
            IdentifyRecord(IDENTIFY, time.monotonic(), session.session_id, shard, session.intents, token_ok=True)
        )
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        ok = session is not None and not session.invalid and data.get("token") == self.fake.token
        shard = session.shard if session is not None else (0, 1)
        self.fake._add_identify(IdentifyRecord(RESUME, time.monotonic(), data.get("session_id"), shard, None, ok))
        if session is None or not ok:
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        async with session.lock:
            session.ws = ws
            after = int(data.get("seq") or 0)
            for frame in session.log:
                if frame["s"] > after:
                    await ws.send_str(json.dumps(frame))
                    self._notify_sent(frame)
        await self._send(session, "RESUMED", {})
        return session

    async def _send(self, session: GatewaySession, event: str, data: dict[str, Any]) -> bool:
        """Sequence and log the event; send it now if the session has a live socket."""
        async with session.lock:
            session.seq += 1
            frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
            session.log.append(frame)
            ws = session.ws
            if ws is None or ws.closed:
                return False
            try:
                await ws.send_str(json.dumps(frame))
            except ConnectionError:
                return False
        self._notify_sent(frame)
        return True

    def _notify_sent(self, frame: dict[str, Any]) -> None:
        if self.on_sent is not None:
            self.on_sent(frame["t"], frame["d"])

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session for a guild's shard (DMs go to shard 0)."""
        for session in self.by_shard.values():
            if session.invalid:
                continue
            if guild_id is None and session.shard[0] == 0:
                return session
            if guild_id is not None and (guild_id >> 22) % session.shard[1] == session.shard[0]:
                return session
        return None

    def dispatched(self, event: str, shard_id: int) -> list[dict[str, Any]]:
        """The payloads of `event` dispatched to the sessions of one shard, oldest first (what that shard's
        process was given, or would be on RESUME)."""
        return [
            frame["d"]
            for session in self.sessions.values()
            if session.shard[0] == shard_id
            for frame in session.log
            if frame["t"] == event
        ]

    async def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None) -> bool:
        """Send a DISPATCH to the bot; False when no session would receive it (event dropped)."""
        session = self.session_for(guild_id)
        if session is None:
            return False
        needs = EVENT_INTENTS.get(event)
        if needs is not None and not session.intents & needs[0 if guild_id is not None else 1]:
            return False
        await self._send(session, event, data)
        return True

    async def drop(self, code: int = 4000) -> None:
        """Close every live socket with `code` (4000 lets the client resume)."""
        for ws in list(self.sockets):
            await ws.close(code=code, message=b"fake gateway drop")

    async def send_op(self, op: int, data: Any = None) -> None:
        """Send a raw opcode (e.g. RECONNECT) on every live socket."""
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps({"op": op, "d": data}))

    def invalidate(self) -> None:
        """Make every existing session non-resumable."""
        for session in self.sessions.values():
            session.invalid = True
        self.by_shard.clear()

    async def close(self) -> None:
        await self.drop(code=1001)
