"""The fake REST API under /api/v10 (plus /attachments for files), with Discord's error envelopes.

Files are served like Discord's CDN: only through a signed URL (`?ex=<hex unix expiry>&is=<hex issued>&hm=<hmac>&`)
that stops working at `ex` (404 "This content is no longer available."), and `POST /attachments/refresh-urls`
signs them again.

Every request is recorded, then faults the test set up are applied (latency, 429, 5xx, 403...), then the
per-channel rate limits switched on (`FakeDiscord.edit_limit`, `post_limit`), then the handler runs. A limited
route answers with Discord's X-RateLimit-* headers, which discord.py paces itself by, and with a 429 past the limit.
Uploads are streamed to a spool directory while hashing, so large files never sit in memory.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_components import ComponentError, check, is_v2, resolved, texts
from tests.fakes.discord_payloads import (
    channel_payload,
    compute_pings,
    member_payload,
    message_payload,
    user_payload,
)
from tests.fakes.discord_state import (
    HEAD_BYTES,
    CallbackRecord,
    CommandSync,
    FakeAttachment,
    FakeChannel,
    FakeInteraction,
    FakeMessage,
    Perm,
    RateWindow,
    RequestRecord,
    RouteLimit,
    UploadedFile,
)

if TYPE_CHECKING:
    from tests.fakes.discord import FakeDiscord

log = logging.getLogger(__name__)

API = "/api/v10"
REFRESH_URLS = "/attachments/refresh-urls"
CONTENT_GONE = "This content is no longer available."
RECORDED_BODY = web.RequestKey("recorded_body", object)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly `Content-Type: application/json`: discord.py parses nothing else (no charset)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"} | (headers or {})
    )


class ApiError(Exception):
    """Raised inside handlers; becomes Discord's JSON error envelope."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return json_response(body, status=self.status)


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def unknown_channel() -> ApiError:
    return ApiError(404, 10003, "Unknown Channel")


def unknown_webhook() -> ApiError:
    return ApiError(404, 10015, "Unknown Webhook")


def form_error(field_name: str, code: str, message: str) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", {field_name: {"_errors": [{"code": code, "message": message}]}})


@dataclass
class Fault:
    """A scripted misbehaviour of matching routes. `times` None = forever."""

    method: str | None
    route: str
    status: int = 0
    code: int = 0
    message: str = ""
    times: int | None = 1
    retry_after: float = 0.0
    is_global: bool = False
    delay: float = 0.0
    hits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str, route: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        absolute = self.route.startswith(("/attachments/", API)) and self.route != REFRESH_URLS
        pattern = self.route if absolute else API + self.route
        return route == pattern or fnmatch.fnmatchcase(path, pattern)


@dataclass
class Payload:
    """A request body: the JSON part and any uploaded files."""

    json: dict[str, Any]
    files: list[UploadedFile]

    @property
    def total_file_bytes(self) -> int:
        return sum(f.size for f in self.files)


class RestApi:
    """Route handlers; state lives on the FakeDiscord they were built for."""

    def __init__(self, fake: FakeDiscord, spool: Path) -> None:
        self.fake = fake
        self.spool = spool
        self.faults: list[Fault] = []
        self.limits: dict[tuple[str, str], RouteLimit] = {}  # (method, route template) -> its per-channel limit
        self._windows: dict[tuple[str, str, str], RateWindow] = {}  # (method, route, channel id) -> current window
        self._spool_seq = 0

    # ---- wiring -------------------------------------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        r = app.router
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/users/@me", self.get_me),
            ("GET", "/users/{user_id}", self.get_user),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/applications/{app_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/commands", self.put_commands),
            ("POST", "/applications/{app_id}/commands", self.post_command),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/applications/{app_id}/guilds/{guild_id}/commands", self.post_command),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{app_id}/{token}", self.webhook_execute),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_edit),
            ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_delete),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("GET", "/channels/{channel_id}/messages", self.list_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message),
            ("POST", "/channels/{channel_id}/threads", self.thread_without_message),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("POST", REFRESH_URLS, self.refresh_urls),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
        ]
        for method, path, handler in routes:
            r.add_route(method, API + path, handler)
        r.add_get("/gateway", self.fake._gateway.handle)
        r.add_get("/attachments/{attachment_id}/{filename}", self.get_attachment)
        r.add_route("*", "/{tail:.*}", self.not_found)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        route_info = request.match_info.route.resource
        route = route_info.canonical if route_info is not None else request.path
        if request.path == "/gateway":
            return await handler(request)
        response: web.StreamResponse
        limit = self.limits.get((request.method, route.removeprefix(API)))
        window: RateWindow | None = None
        try:
            fault_response = await self._apply_faults(request, route)
            if fault_response is not None:
                response = fault_response
            else:
                if limit is not None:
                    window = self._take(limit, request)
                self._check_auth(request, route)
                response = await handler(request)
        except RateLimitedError as exc:
            await _drain(request)
            response = exc.response()
        except ApiError as exc:
            await _drain(request)
            response = exc.response()
        if limit is not None and window is not None and response.status != 429:
            # Discord sends the bucket's state on every answer of a limited route, errors included.
            response.headers.update(_limit_headers(limit, window))
        if response.status == 429:
            self.fake._count_429(request.method, route.removeprefix(API))
        self.fake._add_request(
            RequestRecord(
                method=request.method,
                path=request.path,
                route=route.removeprefix(API),
                time=started,
                status=response.status,
                query=dict(request.query),
                body=request.get(RECORDED_BODY),
            )
        )
        return response

    async def _apply_faults(self, request: web.Request, route: str) -> web.Response | None:
        for fault in self.faults:
            if not fault.matches(request.method, request.path, route):
                continue
            fault.hits += 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status == 0:
                continue
            await _drain(request)
            if fault.status == 429:
                return _rate_limited(fault)
            return ApiError(fault.status, fault.code, fault.message).response()
        return None

    def _take(self, limit: RouteLimit, request: web.Request) -> RateWindow:
        """Count the request in its channel's window (a new one if the last is over), or refuse it: window full."""
        key = (limit.method, limit.route, request.match_info.get("channel_id", ""))
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now >= window.resets:
            window = self._windows[key] = RateWindow(resets=now + limit.seconds)
        if window.used >= limit.per:
            # Refused requests do not count: Discord's window holds only what it let through.
            raise RateLimitedError(limit, window)
        window.used += 1
        return window

    def _check_auth(self, request: web.Request, route: str) -> None:
        if not route.startswith(API) or route.startswith((API + "/webhooks", API + "/interactions")):
            return
        if request.headers.get("Authorization") != f"Bot {self.fake.token}":
            raise ApiError(401, 0, "401: Unauthorized")

    # ---- bodies -------------------------------------------------------------------------------------------
    async def _payload(self, request: web.Request) -> Payload:
        if request.content_type.startswith("multipart/"):
            data: dict[str, Any] = {}
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                name = getattr(part, "name", None) or ""
                if name == "payload_json":
                    data = json.loads(await part.text())  # type: ignore[union-attr]
                elif name.startswith("files["):
                    files.append(await self._spool_part(part, name))
            request[RECORDED_BODY] = data | {"_files": [(f.filename, f.size) for f in files]}
            return Payload(data, files)
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        request[RECORDED_BODY] = body
        return Payload(body if isinstance(body, dict) else {"_list": body}, [])

    async def _spool_part(self, part: Any, name: str) -> UploadedFile:
        self._spool_seq += 1
        path = self.spool / f"upload-{self._spool_seq}"
        digest = hashlib.sha256()
        head = b""
        size = 0
        with path.open("wb") as out:
            while chunk := await part.read_chunk(256 * 1024):
                digest.update(chunk)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                size += len(chunk)
                out.write(chunk)
        upload = UploadedFile(name, part.filename or "file", size, digest.hexdigest(), head, path)
        self.fake._add_upload(upload)
        return upload

    def _check_upload_limit(self, payload: Payload, limit: int | None) -> None:
        if limit is not None and payload.total_file_bytes > limit:
            raise ApiError(413, 40005, "Request entity too large")

    # ---- misc ---------------------------------------------------------------------------------------------
    async def not_found(self, request: web.Request) -> web.Response:
        await _drain(request)
        return json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response(
            {"url": self.fake.gateway_url, "shards": self.fake.shard_count, "session_start_limit": limit}
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.fake.gateway_url})

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(user_payload(self.fake.bot_user))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.fake.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user_payload(user))

    async def get_application(self, request: web.Request) -> web.Response:
        fake = self.fake
        return json_response(
            {
                "id": str(fake.application_id),
                "name": fake.bot_user.username,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user_payload(fake.owner),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "rpc_origins": [],
                "bot": user_payload(fake.bot_user),
            }
        )

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    async def get_attachment(self, request: web.Request) -> web.Response:
        att = self.fake._attachments.get(int(request.match_info["attachment_id"]))
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        if not self.fake.url_signature_ok(request.path, request.query_string):
            # Discord's CDN: an unsigned, tampered or expired URL shows this, with a 404.
            return web.Response(status=404, text=CONTENT_GONE)
        return web.Response(body=att.read(), content_type=att.content_type or "application/octet-stream")

    async def refresh_urls(self, request: web.Request) -> web.Response:
        """Discord's `POST /attachments/refresh-urls`: fresh signed URLs for attachment URLs (up to 50)."""
        body = (await self._payload(request)).json
        urls = body.get("attachment_urls")
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            raise form_error("attachment_urls", "BASE_TYPE_REQUIRED", "This field is required")
        if not 1 <= len(urls) <= 50:
            raise form_error("attachment_urls", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 50 in length.")
        self.fake.refresh_calls.append(list(urls))
        return json_response(
            {"refreshed_urls": [{"original": url, "refreshed": self.fake.refreshed_url(url)} for url in urls]}
        )

    # ---- guilds -------------------------------------------------------------------------------------------
    async def get_guild(self, request: web.Request) -> web.Response:
        from tests.fakes.discord_payloads import guild_create_payload

        guild = self.fake.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response(guild_create_payload(guild))

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return json_response([channel_payload(c) for c in guild.channels.values() if not c.deleted])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.fake.guilds.get(int(request.match_info["guild_id"]))
        member = guild.members.get(int(request.match_info["user_id"])) if guild else None
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member_payload(member))

    # ---- commands -----------------------------------------------------------------------------------------
    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["app_id"]) != self.fake.application_id:
            raise ApiError(403, 50001, "Missing Access")
        gid = request.match_info.get("guild_id")
        return int(gid) if gid is not None else None

    async def get_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        return json_response(self.fake._commands.get(scope, []))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = (await self._payload(request)).json.get("_list", [])
        stored = [self._store_command(scope, c) for c in body]
        self.fake._commands[scope] = stored
        self.fake._add_sync(CommandSync(scope, stored, time.monotonic()))
        return json_response(stored)

    async def post_command(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        cmd = self._store_command(scope, (await self._payload(request)).json)
        existing = [c for c in self.fake._commands.get(scope, []) if c["name"] != cmd["name"]]
        self.fake._commands[scope] = [*existing, cmd]
        self.fake._add_sync(CommandSync(scope, [cmd], time.monotonic()))
        return json_response(cmd, status=201)

    def _store_command(self, scope: int | None, cmd: dict[str, Any]) -> dict[str, Any]:
        # Discord keeps a command's id while its name and type stay the same.
        key = (scope, cmd.get("name"), cmd.get("type", 1))
        cid = self.fake._command_ids.setdefault(key, self.fake._ids.next())
        stored = {
            "id": str(cid),
            "application_id": str(self.fake.application_id),
            "version": str(self.fake._ids.next()),
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
        } | cmd
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    # ---- channels & messages ------------------------------------------------------------------------------
    def _channel(self, request: web.Request) -> FakeChannel:
        channel = self.fake._channels.get(int(request.match_info["channel_id"]))
        if channel is None or channel.deleted:
            raise unknown_channel()
        if channel.forbidden_code is not None:
            message = "Missing Access" if channel.forbidden_code == 50001 else "Missing Permissions"
            raise ApiError(403, channel.forbidden_code, message)
        if channel.guild_id is not None and not self.fake.bot_permissions(channel.id) & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        return channel

    def _channel_message(self, request: web.Request, channel: FakeChannel) -> FakeMessage:
        msg = self.fake._messages.get(int(request.match_info["message_id"]))
        if msg is None or msg.deleted or msg.channel_id != channel.id or msg.ephemeral:
            raise unknown_message()
        return msg

    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        recipient = self.fake.users.get(channel.recipient_id) if channel.recipient_id else None
        return json_response(channel_payload(channel, recipient=recipient))

    async def create_dm(self, request: web.Request) -> web.Response:
        body = (await self._payload(request)).json
        user = self.fake.users.get(int(body.get("recipient_id", 0)))
        if user is None:
            raise form_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        channel = self.fake._dm_channel(user.id)
        return json_response(channel_payload(channel, recipient=user))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        visible = [m for m in self.fake.messages(channel.id)]
        if "after" in request.query:
            after = int(request.query["after"])
            chosen = [m for m in visible if m.id > after][:limit]
        elif "around" in request.query:
            around = int(request.query["around"])
            older = [m for m in visible if m.id <= around][-((limit + 1) // 2) :]
            newer = [m for m in visible if m.id > around][: limit // 2]
            chosen = older + newer
        else:
            before = int(request.query.get("before", str(1 << 63)))
            chosen = [m for m in visible if m.id < before][-limit:]
        chosen.sort(key=lambda m: m.id, reverse=True)
        return json_response([self.fake._message_json(m) for m in chosen])

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_response(self.fake._message_json(self._channel_message(request, channel)))

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        payload = await self._payload(request)
        body = payload.json
        if channel.is_dm and channel.dms_closed:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        if channel.guild_id is not None:
            perms = self.fake.bot_permissions(channel.id)
            needed = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
            if not perms & needed or (payload.files and not perms & Perm.ATTACH_FILES):
                raise ApiError(403, 50013, "Missing Permissions")
        self._check_upload_limit(payload, self.fake.upload_limit)
        validate_message_body(body, has_files=bool(payload.files), creating=True, files=payload.files)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            existing = self.fake._nonce_hit(str(nonce))
            if existing is not None:
                return json_response(self.fake._message_json(existing))
        reference = body.get("message_reference")
        replied_user: int | None = None
        if reference:
            target = self.fake._messages.get(int(reference.get("message_id", 0)))
            if target is None or target.deleted:
                if reference.get("fail_if_not_exists", True):
                    raise form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                reference = None
            else:
                replied_user = target.author.id
                reference = {
                    "type": 0,
                    "message_id": str(target.id),
                    "channel_id": str(target.channel_id),
                    "guild_id": str(target.guild_id) if target.guild_id else None,
                }
        msg = self.fake._new_message(
            channel,
            body,
            payload.files,
            message_reference=reference,
            replied_user_id=replied_user,
            type=19 if reference else 0,
        )
        if nonce is not None:
            msg.nonce = str(nonce)
        await self.fake._message_created(msg)
        return json_response(self.fake._message_json(msg))

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        payload = await self._payload(request)
        if msg.author.id != self.fake.bot_user.id and set(payload.json) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        attach_denied = channel.guild_id is not None and not self.fake.bot_permissions(channel.id) & Perm.ATTACH_FILES
        if payload.files and attach_denied:
            raise ApiError(403, 50013, "Missing Permissions")
        self._check_upload_limit(payload, self.fake.upload_limit)
        validate_message_body(
            payload.json, has_files=bool(payload.files), creating=False, files=payload.files, existing=msg
        )
        self.fake._apply_edit(msg, payload.json, payload.files)
        await self.fake._message_updated(msg)
        return json_response(self.fake._message_json(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        await self.fake._delete(msg)
        return web.Response(status=204)

    async def thread_from_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        body = (await self._payload(request)).json
        if not self.fake.bot_permissions(channel.id) & Perm.CREATE_PUBLIC_THREADS:
            raise ApiError(403, 50013, "Missing Permissions")
        if msg.id in self.fake._channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = await self.fake._create_thread(channel, str(body.get("name", "thread")), 11, thread_id=msg.id)
        return json_response(channel_payload(thread), status=201)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = (await self._payload(request)).json
        kind = int(body.get("type") or 12)
        needed = Perm.CREATE_PUBLIC_THREADS if kind == 11 else Perm.CREATE_PRIVATE_THREADS
        if not self.fake.bot_permissions(channel.id) & needed:
            raise ApiError(403, 50013, "Missing Permissions")
        thread = await self.fake._create_thread(channel, str(body.get("name", "thread")), kind)
        return json_response(channel_payload(thread), status=201)

    # ---- interactions -------------------------------------------------------------------------------------
    async def interaction_callback(self, request: web.Request) -> web.Response:
        fake = self.fake
        inter = fake._interactions.get(int(request.match_info["interaction_id"]))
        payload = await self._payload(request)
        kind = int(payload.json.get("type", 0))
        data = payload.json.get("data") or {}
        if inter is None or inter.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        late = inter.sent_at is None or time.monotonic() - inter.sent_at > fake.callback_deadline
        status = 200
        try:
            if inter.responded:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            if late:
                raise ApiError(404, 10062, "Unknown interaction")
            self._check_upload_limit(payload, fake.interaction_upload_limit(inter))
            if kind in (4, 7):
                edited = fake._messages.get(inter.message_id) if kind == 7 and inter.message_id else None
                validate_message_body(
                    data, has_files=bool(payload.files), creating=kind == 4, files=payload.files, existing=edited
                )
            response = await self._respond(inter, kind, data, payload.files)
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            fake._add_callback(
                CallbackRecord(inter.id, inter.token, kind, data, time.monotonic(), status, payload.files)
            )
        if request.query.get("with_response") in ("1", "true", "True"):
            return json_response(response)
        return web.Response(status=204)

    async def _respond(
        self, inter: FakeInteraction, kind: int, data: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, Any]:
        fake = self.fake
        message: FakeMessage | None = None
        if kind == 4:
            message = fake._new_interaction_message(inter, data, files)
            inter.original_id = message.id
        elif kind == 5:
            flags = (int(data.get("flags") or 0) & 64) | 128
            message = fake._new_interaction_message(inter, {"flags": flags}, [])
            inter.original_id = message.id
        elif kind in (6, 7):
            if inter.message_id is None:
                raise ApiError(400, 50035, "Invalid Form Body")
            message = fake._messages.get(inter.message_id)
            if message is None or message.deleted:
                raise unknown_message()
            inter.original_id = message.id
            if kind == 7:
                fake._apply_edit(message, data, files)
        elif kind not in (8, 9):
            raise ApiError(400, 50035, "Invalid Form Body")
        inter.responded = True
        if message is not None and kind in (4, 5):
            await fake._message_created(message)
        elif message is not None and kind == 7:
            await fake._message_updated(message)
        interaction_info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            interaction_info.update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
            resource["message"] = fake._message_json(message)
        return {"interaction": interaction_info, "resource": resource}

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        fake = self.fake
        if int(request.match_info["app_id"]) != fake.application_id:
            raise unknown_webhook()
        inter = fake._by_token.get(request.match_info["token"])
        if inter is None:
            raise unknown_webhook()
        too_old = inter.sent_at is not None and time.monotonic() - inter.sent_at > fake.token_lifetime
        if inter.expired or too_old:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    def _webhook_message(self, request: web.Request, inter: FakeInteraction) -> FakeMessage:
        raw = request.match_info["message_id"]
        mid = inter.original_id if raw == "@original" else int(raw)
        if mid is None or (mid != inter.original_id and mid not in inter.followup_ids):
            raise unknown_message()
        msg = self.fake._messages.get(mid)
        if msg is None or msg.deleted:
            raise unknown_message()
        return msg

    async def webhook_execute(self, request: web.Request) -> web.Response:
        fake = self.fake
        inter = self._webhook_interaction(request)
        payload = await self._payload(request)
        if not inter.responded:
            raise unknown_webhook()
        self._check_upload_limit(payload, fake.interaction_upload_limit(inter))
        validate_message_body(payload.json, has_files=bool(payload.files), creating=True, files=payload.files)
        original = fake._messages.get(inter.original_id) if inter.original_id else None
        if original is not None and original.loading and not original.deleted:
            # Discord turns the first followup after a "thinking" defer into the original response.
            body = dict(payload.json)
            body["flags"] = (int(body.get("flags") or 0) & ~64) | (original.flags & 64)
            fake._apply_edit(original, body, payload.files, clear_loading=True)
            msg = original
            await fake._message_updated(msg)
        else:
            msg = fake._new_interaction_message(inter, payload.json, payload.files)
            await fake._message_created(msg)
        inter.followup_ids.append(msg.id)
        fake._record("followup", msg)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(fake._message_json(msg))
        return web.Response(status=204)

    async def webhook_get(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        return json_response(self.fake._message_json(self._webhook_message(request, inter)))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        msg = self._webhook_message(request, inter)
        payload = await self._payload(request)
        self._check_upload_limit(payload, self.fake.interaction_upload_limit(inter))
        validate_message_body(
            payload.json, has_files=bool(payload.files), creating=False, files=payload.files, existing=msg
        )
        self.fake._apply_edit(msg, payload.json, payload.files, clear_loading=True)
        await self.fake._message_updated(msg)
        return json_response(self.fake._message_json(msg))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        inter = self._webhook_interaction(request)
        await self.fake._delete(self._webhook_message(request, inter))
        return web.Response(status=204)


def validate_message_body(
    body: dict[str, Any],
    *,
    has_files: bool,
    creating: bool,
    files: Sequence[UploadedFile] = (),
    existing: FakeMessage | None = None,
) -> None:
    """The subset of Discord's message validation a bot is likely to trip over (`existing`: the message an edit
    changes, `files`: the files uploaded with the request)."""
    _check_layout(body, files, existing)
    content = body.get("content")
    if content is not None and len(str(content)) > 2000:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for embed in embeds:
        for key, cap in (("title", 256), ("description", 4096)):
            value = str(embed.get(key) or "")
            total += len(value)
            if len(value) > cap:
                raise form_error(f"embeds.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {cap} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error("embeds.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for f in fields:
            total += len(str(f.get("name") or "")) + len(str(f.get("value") or ""))
            if len(str(f.get("name") or "")) > 256 or len(str(f.get("value") or "")) > 1024:
                raise form_error("embeds.fields", "BASE_TYPE_MAX_LENGTH", "Field too long.")
        total += len(str((embed.get("footer") or {}).get("text") or ""))
    if total > 6000:
        raise form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    for custom_id in _custom_ids(body.get("components") or []):
        if len(custom_id) > 100:
            raise form_error("components", "BASE_TYPE_MAX_LENGTH", "custom_id must be 100 or fewer in length.")
    if creating and not (content or embeds or has_files or body.get("components") or body.get("sticker_ids")):
        raise ApiError(400, 50006, "Cannot send an empty message")


def _check_layout(body: dict[str, Any], files: Sequence[UploadedFile], existing: FakeMessage | None) -> None:
    """The components' rules (Components V2 above all), on the message as it will be once created or edited."""
    before = existing.flags if existing is not None else 0
    asked = body.get("flags")
    if is_v2(before) and asked is not None and not is_v2(int(asked)):
        raise form_error(
            "flags", "MESSAGE_CANNOT_REMOVE_COMPONENTS_V2_FLAG", "The IS_COMPONENTS_V2 flag can't be removed"
        )
    v2 = is_v2(before) or is_v2(asked)
    if v2:
        content = body.get("content", existing.content if existing is not None else "")
        embeds = body.get("embeds", existing.embeds if existing is not None else [])
        if content or embeds or body.get("sticker_ids") or body.get("poll"):
            raise form_error(
                "content",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "content, embeds, stickers and polls can't be used with the IS_COMPONENTS_V2 flag",
            )
    if "components" not in body and not (v2 and ("attachments" in body or files)):
        return
    components = body.get("components", existing.components if existing is not None else [])
    kept = list(existing.attachments) if existing is not None else []
    if existing is not None and body.get("attachments") is not None:
        listed = {str(a.get("id")) for a in body["attachments"]}
        kept = [a for a in kept if str(a.id) in listed]
    names = [a.filename for a in kept] + [f.filename for f in files]
    try:
        check(components or [], v2=v2, attachment_names=names)
    except ComponentError as error:
        raise form_error(error.where, "COMPONENT_LAYOUT_INVALID", error.message) from error


def _custom_ids(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["custom_id"])] if "custom_id" in node else []
        return found + [cid for value in node.values() for cid in _custom_ids(value)]
    if isinstance(node, list):
        return [cid for item in node for cid in _custom_ids(item)]
    return []


def _rate_limited(fault: Fault) -> web.Response:
    bucket = "fakebucket" + hashlib.sha1(fault.route.encode()).hexdigest()[:8]
    return too_many_requests(
        fault.retry_after,
        limit=5,
        bucket=bucket,
        scope="shared" if fault.is_global else "user",
        is_global=fault.is_global,
    )


class RateLimitedError(Exception):
    """A request past its channel's limit: it is refused before the handler runs, so nothing changes."""

    def __init__(self, limit: RouteLimit, window: RateWindow) -> None:
        super().__init__(limit.route)
        self.limit, self.window = limit, window

    def response(self) -> web.Response:
        return too_many_requests(_reset_after(self.window), limit=self.limit.per, bucket=self.limit.bucket)


def _reset_after(window: RateWindow) -> float:
    # Rounded up to Discord's millisecond: a client waking at a rounded-down reset would arrive before it.
    return math.ceil(max(0.0, window.resets - time.monotonic()) * 1000) / 1000


def _limit_headers(limit: RouteLimit, window: RateWindow) -> dict[str, str]:
    reset_after = _reset_after(window)
    return {
        "X-RateLimit-Limit": str(limit.per),
        "X-RateLimit-Remaining": str(max(0, limit.per - window.used)),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": limit.bucket,
    }


def too_many_requests(
    retry_after: float, *, limit: int, bucket: str, scope: str = "user", is_global: bool = False
) -> web.Response:
    """Discord's 429: its body and headers (discord.py sleeps `retry_after`, then sends the request again)."""
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": scope,
        "Retry-After": str(max(1, math.ceil(retry_after))),
        # discord.py treats a 429 without Via as a Cloudflare ban, so Discord's own header is needed.
        "Via": "1.1 google",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
    return json_response(body, status=429, headers=headers)


async def _drain(request: web.Request) -> None:
    """Read and discard the body so the client can finish sending before it gets the error."""
    if request.body_exists and not request.content.at_eof():
        while await request.content.readany():
            pass


def message_json_for(fake: FakeDiscord, msg: FakeMessage) -> dict[str, Any]:
    """The message as the API shows it (mentions resolved, referenced message embedded)."""
    mentions = []
    for uid in sorted(msg.pings.users):
        user = fake.users.get(uid)
        if user is not None:
            mentions.append(user_payload(user))
    referenced = None
    if msg.message_reference is not None and msg.reply_to is not None:
        target = fake._messages.get(msg.reply_to)
        if target is not None and not target.deleted:
            referenced = message_payload(target, application_id=fake.application_id)
    data = message_payload(msg, mentions=mentions, referenced=referenced, application_id=fake.application_id)
    data["components"] = resolved(msg.components, msg.attachments)
    return data


def build_attachments(
    fake: FakeDiscord, listed: list[dict[str, Any]] | None, files: list[UploadedFile], keep: list[FakeAttachment]
) -> list[FakeAttachment]:
    """Attachments after a create/edit: kept ones (listed by id) then the uploaded files in index order."""
    if listed is not None:
        ids = {str(a.get("id")) for a in listed}
        keep = [a for a in keep if str(a.id) in ids]
    result = list(keep)
    for upload in files:
        att = FakeAttachment(
            id=fake._ids.next(),
            filename=upload.filename,
            size=upload.size,
            sha256=upload.sha256,
            head=upload.head,
            url="",
            content_type=_guess_type(upload.filename),
            path=upload.path,
        )
        att.url = fake.attachment_url(att)
        fake._attachments[att.id] = att
        result.append(att)
    return result


def _guess_type(filename: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(filename)[0]


def pings_for(fake: FakeDiscord, body: dict[str, Any], replied_user_id: int | None) -> Any:
    # A V2 message has no content: its mentions are in its text displays, and they ping like content does.
    shown = str(body.get("content") or "")
    if is_v2(body.get("flags")):
        shown = "\n".join([shown, *texts(body.get("components") or [])])
    return compute_pings(
        shown,
        body.get("allowed_mentions"),
        author_id=fake.bot_user.id,
        replied_user_id=replied_user_id,
    )
