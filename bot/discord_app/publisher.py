"""The services' StatusPublisher, spoken in discord.py: posts, edits, replies and DMs, errors translated."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import aiohttp
import discord

from bot.discord_app.group_messages import GroupMessages, fitted_name
from bot.discord_app.ui import text
from bot.discord_app.ui.card import approval_closed_card
from bot.discord_app.ui.messages import requester_dm
from bot.discord_app.ui.status import quote_prompt
from bot.domain.estimates import Estimate
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.domain.request import VideoRequest
from bot.services.ports import (
    ChannelGone,
    MessageGone,
    MessageRefused,
    PermissionMissing,
    PublishError,
    PublishUnavailable,
    UploadTooLarge,
)
from bot.storage.images import ImageStore
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)

T = TypeVar("T")

UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
REQUEST_TOO_LARGE = 40005
NO_PINGS = discord.AllowedMentions.none()


def ping_only(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False)


async def translated(call: Awaitable[T]) -> T:
    """Await a discord.py call, turning its errors into the four kinds the services handle (see ports)."""
    try:
        return await call
    except discord.NotFound as error:
        if error.code == UNKNOWN_MESSAGE:
            raise MessageGone(str(error.code)) from error
        raise ChannelGone(str(error.code)) from error
    except discord.Forbidden as error:
        if error.code in (MISSING_ACCESS, MISSING_PERMISSIONS):
            reason = "access" if error.code == MISSING_ACCESS else "permission"
            raise PermissionMissing(f"HTTP 403 ({error.code})", reason=reason) from error
        # Other 403s are about this message or this place (a locked thread, a member whose DMs are closed):
        # sending it again unchanged would be refused again.
        raise MessageRefused(f"HTTP 403 ({error.code})") from error
    except discord.HTTPException as error:
        if error.status == 413 or error.code == REQUEST_TOO_LARGE:
            raise UploadTooLarge(str(error.status)) from error
        if error.status == 429 or error.status >= 500:
            raise PublishUnavailable(f"HTTP {error.status}") from error
        # 400-type answers (form errors, AutoMod, archived threads): the same message will never pass.
        raise MessageRefused(f"HTTP {error.status} ({error.code})") from error
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        # ClientError: a dropped connection (ServerDisconnectedError is no OSError) is an outage like any other.
        raise PublishUnavailable(type(error).__name__) from error


class DiscordPublisher:
    def __init__(
        self,
        *,
        render_timeout: float,
        models: ModelTable,
        renders: RenderRepository | None = None,
        images: ImageStore | None = None,
        estimate: Callable[[VideoRequest], Estimate | None] | None = None,
        slots: int | None = None,
    ) -> None:
        self._bound: discord.Client | None = None
        self._render_timeout = render_timeout
        self._models = models
        self._renders = renders  # a continuation's card replies to the clip it continues
        # Cards and result messages in Components V2 (`images`: the first frame a card shows; `estimate`: how long
        # renders like it usually take; `slots`: MAX_RENDERS_AT_API, for the expected start of a render in line).
        self._groups = GroupMessages(
            render_timeout=render_timeout, models=models, images=images, estimate=estimate, slots=slots
        )

    def bind(self, client: discord.Client) -> None:
        """Attach the bot: services are built before it, and the publisher is only used once it runs."""
        self._bound = client

    @property
    def _client(self) -> discord.Client:
        if self._bound is None:
            raise RuntimeError("DiscordPublisher used before bind()")
        return self._bound

    def _channel(self, channel_id: int) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(channel_id)

    async def post_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> int:
        members = list(group) or [render]
        message = await translated(
            self._groups.post_card(
                self._channel(render.channel_id),
                members,
                allowed_mentions=NO_PINGS,
                reference=await self._continued_clip(members[0]),
            )
        )
        return message.id

    async def _continued_clip(self, render: RenderRecord) -> discord.MessageReference | None:
        """Continue: the clip this render continues, when it is in the same channel (a reply can't cross over)."""
        if render.parent_id is None or self._renders is None:
            return None
        parent = await self._renders.get(render.parent_id)
        if parent is None or parent.channel_id != render.channel_id or parent.result_message_id is None:
            return None
        return discord.MessageReference(
            message_id=parent.result_message_id, channel_id=parent.channel_id, fail_if_not_exists=False
        )

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        with contextlib.suppress(MessageGone):
            await translated(self._channel(channel_id).get_partial_message(message_id).delete())

    async def edit_status(self, render: RenderRecord, group: Sequence[RenderRecord] = ()) -> None:
        assert render.status_message_id is not None
        partial = self._channel(render.channel_id).get_partial_message(render.status_message_id)
        # The whole card is sent each time: a button never outlives the state it belongs to.
        await translated(self._groups.edit_card(partial, list(group) or [render], allowed_mentions=NO_PINGS))

    async def open_thread(self, render: RenderRecord) -> int:
        assert render.status_message_id is not None
        name = discord.utils.remove_markdown(render.request.prompt).replace("\n", " ")[:90] or "Video"
        # The raw route: a partial message (all the tracker has after a restart) lacks the guild discord.py wants.
        thread = await translated(
            self._client.http.start_thread_with_message(
                render.channel_id, render.status_message_id, name=name, auto_archive_duration=1440
            )
        )
        return int(thread["id"])

    async def find_delivery(self, render: RenderRecord) -> int | None:
        if render.status_message_id is None or self._client.user is None:
            return None
        me = self._client.user.id
        channel = self._channel(render.channel_id)

        def holds_clip(message: discord.Message) -> bool:
            # A clip too large to upload is a line in the result message: finding the message is enough (showing
            # the line again does no harm); a file must be there, or an edit adding it may not have landed.
            return render.fallback is not None or any(render.id[:8] in a.filename for a in message.attachments)

        async def search() -> int | None:
            # Unbounded on purpose: this runs only after an interrupted post, and in a busy channel the clip may
            # be more than a page after its status message.
            after = discord.Object(render.status_message_id or 0)
            async for message in channel.history(after=after, limit=None):
                reference = message.reference
                if message.author.id == me and reference and reference.message_id == render.status_message_id:
                    return message.id if holds_clip(message) else None
            return None

        try:
            return await translated(search())
        except (MessageGone, ChannelGone):
            return None

    def _reference(self, render: RenderRecord) -> discord.MessageReference | None:
        if render.status_message_id is None:
            return None
        return discord.MessageReference(
            message_id=render.status_message_id, channel_id=render.channel_id, fail_if_not_exists=False
        )

    async def deliver_file(
        self,
        render: RenderRecord,
        path: Path,
        filename: str,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        return await self._into_result(render, group, into, removed, (path, filename))

    async def deliver_fitted(
        self,
        render: RenderRecord,
        path: Path,
        filename: str,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        return await self._into_result(render, group, into, removed, (path, fitted_name(filename)))

    async def deliver_link(
        self,
        render: RenderRecord,
        url: str | None,
        size: int | None,
        *,
        group: Sequence[RenderRecord] = (),
        into: int | None = None,
        removed: Collection[str] = (),
    ) -> int:
        # The link is the render's own (`video_url`), shown on its line of the result message.
        return await self._into_result(render, group, into, removed, None)

    async def _into_result(
        self,
        render: RenderRecord,
        group: Sequence[RenderRecord],
        into: int | None,
        removed: Collection[str],
        clip: tuple[Path, str] | None,
    ) -> int:
        members = list(group) or [render]
        channel = self._channel(render.channel_id)
        if into is None:
            message = await translated(
                self._groups.post_result(
                    channel,
                    render,
                    members,
                    clip,
                    removed=removed,
                    allowed_mentions=ping_only(render.user_id),
                    # Discord drops a second message with the same nonce: a retry after a lost response can't double.
                    nonce=render.id[:25],
                    reference=self._reference(render),
                )
            )
            return message.id
        # Read back: the edit lists the files the message keeps, and only Discord knows them.
        message = await translated(channel.get_partial_message(into).fetch())
        await translated(self._groups.add_to_result(message, render, members, clip, removed=removed))
        return into

    async def refresh_result(
        self, group: Sequence[RenderRecord], message_id: int, *, removed: Collection[str] = ()
    ) -> None:
        message = await translated(self._channel(group[0].channel_id).get_partial_message(message_id).fetch())
        await translated(self._groups.refresh_result(message, group, removed=removed))

    async def result_clip_url(self, render: RenderRecord) -> str | None:
        """The video attached to the render's result message (what members saw), if it still has one: its own
        file when the message holds several takes."""
        if render.result_message_id is None:
            return None
        partial = self._channel(render.channel_id).get_partial_message(render.result_message_id)
        try:
            message = await translated(partial.fetch())
        except PublishError as error:
            log.info("render %s: result message not read (%s)", render.id, error)
            return None
        videos = [
            attachment
            for attachment in message.attachments
            if (attachment.content_type or "").split(";", 1)[0].strip().lower().startswith("video/")
            or attachment.filename.lower().endswith((".mp4", ".mov", ".webm"))
        ]
        own = [attachment for attachment in videos if render.id[:8] in attachment.filename]
        chosen = own or (videos if len(videos) == 1 else [])
        return chosen[0].url if chosen else None

    async def post_stitched(
        self, channel_id: int, reply_to: int | None, path: Path, filename: str, content: str
    ) -> int:
        """Post a stitched chain in the channel, as a reply to the clip it was asked from; pings nobody."""
        reference = (
            discord.MessageReference(message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False)
            if reply_to is not None
            else None
        )
        message = await translated(
            self._channel(channel_id).send(
                content=content,
                file=discord.File(path, filename=filename),
                allowed_mentions=NO_PINGS,
                reference=reference,  # type: ignore[arg-type]  # None is accepted at run time
            )
        )
        return message.id

    async def notify_requester(self, render: RenderRecord, *, url: str | None) -> bool:
        content = requester_dm(render, url=url, render_timeout=self._render_timeout)
        return await self._direct_message(render, content)

    async def notify_waiting(self, render: RenderRecord, *, until: datetime) -> bool:
        content = text.DM_DELIVERY_WAITING.format(
            prompt=quote_prompt(render.request.prompt, 200),
            channel=render.channel_id,
            until=discord.utils.format_dt(until, "f"),
        )
        return await self._direct_message(render, content)

    async def _direct_message(self, render: RenderRecord, content: str) -> bool:
        try:
            user = self._client.get_user(render.user_id) or await self._client.fetch_user(render.user_id)
            await translated(user.send(content=content, allowed_mentions=NO_PINGS))
            return True
        except (discord.HTTPException, PublishError) as error:
            # DMs closed or the user is gone: there is nobody left to tell, and retrying forever helps no one.
            log.warning("render %s: could not DM user %s (%s)", render.id, render.user_id, type(error).__name__)
            return False

    async def post_approval_request(self, renders: Sequence[RenderRecord], channel_id: int) -> int:
        message = await translated(
            self._groups.post_approval(self._channel(channel_id), renders, allowed_mentions=NO_PINGS)
        )
        return message.id

    async def close_approval_request(self, render: RenderRecord, channel_id: int, message_id: int) -> None:
        partial = self._channel(channel_id).get_partial_message(message_id)
        # content and embeds cleared: a request posted as an embed (before V2) becomes a V2 card too.
        view = approval_closed_card(render, self._groups.style())
        await translated(partial.edit(content=None, embed=None, view=view, allowed_mentions=NO_PINGS))

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        route = discord.http.Route("POST", "/attachments/refresh-urls")
        answer = await translated(self._client.http.request(route, json={"attachment_urls": list(urls)}))
        entries = answer.get("refreshed_urls") if isinstance(answer, dict) else None
        refreshed: dict[str, str] = {}
        for entry in entries if isinstance(entries, list) else []:
            original = entry.get("original") if isinstance(entry, dict) else None
            fresh = entry.get("refreshed") if isinstance(entry, dict) else None
            # Only Discord's answer for a URL we asked about, and only a web URL, is passed on to a model.
            if (
                isinstance(original, str)
                and original in urls
                and isinstance(fresh, str)
                and fresh.startswith(("https://", "http://"))
            ):
                refreshed[original] = fresh
        return refreshed

    async def post_spend_alert(
        self, channel_id: int, *, guild_id: int, period: str, percent: int, spent: int, budget: int
    ) -> None:
        period_word = "daily" if period == "day" else "monthly"
        content = text.SPEND_ALERT.format(percent=percent, period=period_word, spent=spent, budget=budget)
        if percent >= 100:
            content += text.SPEND_ALERT_FULL
        await translated(self._channel(channel_id).send(content=content, allowed_mentions=NO_PINGS))
