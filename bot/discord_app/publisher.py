"""The services' StatusPublisher, spoken in discord.py: posts, edits, replies and DMs, errors translated."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TypeVar

import aiohttp
import discord

from bot.discord_app.ui import text
from bot.discord_app.ui.status import describe_settings, quote_prompt, status_embed
from bot.discord_app.ui.views import approval_view, result_view, status_view
from bot.domain.models import ModelTable
from bot.domain.render import RenderRecord
from bot.services.ports import ChannelGone, MessageGone, PublishUnavailable, UploadTooLarge

log = logging.getLogger(__name__)

T = TypeVar("T")

UNKNOWN_MESSAGE = 10008
MISSING_PERMISSIONS = 50013
REQUEST_TOO_LARGE = 40005
NO_PINGS = discord.AllowedMentions.none()


def ping_only(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False)


async def translated(call: Awaitable[T]) -> T:
    """Await a discord.py call, turning its errors into the ones the services understand."""
    try:
        return await call
    except discord.NotFound as error:
        if error.code == UNKNOWN_MESSAGE:
            raise MessageGone(str(error.code)) from error
        raise ChannelGone(str(error.code)) from error
    except discord.Forbidden as error:
        raise ChannelGone(str(error.code)) from error
    except discord.HTTPException as error:
        if error.status == 413 or error.code == REQUEST_TOO_LARGE:
            raise UploadTooLarge(str(error.status)) from error
        raise PublishUnavailable(f"HTTP {error.status}") from error
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        # ClientError: a dropped connection (ServerDisconnectedError is no OSError) is an outage like any other.
        raise PublishUnavailable(type(error).__name__) from error


class DiscordPublisher:
    def __init__(self, *, render_timeout: float, models: ModelTable) -> None:
        self._bound: discord.Client | None = None
        self._render_timeout = render_timeout
        self._models = models

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

    async def post_status(self, render: RenderRecord) -> int:
        message = await translated(
            self._channel(render.channel_id).send(
                embed=status_embed(
                    render, render_timeout=self._render_timeout, model=self._models.get(render.request.model)
                ),
                allowed_mentions=NO_PINGS,
                view=status_view(render),  # type: ignore[arg-type]  # None (no buttons) is accepted at run time
            )
        )
        return message.id

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        with contextlib.suppress(MessageGone):
            await translated(self._channel(channel_id).get_partial_message(message_id).delete())

    async def edit_status(self, render: RenderRecord) -> None:
        assert render.status_message_id is not None
        partial = self._channel(render.channel_id).get_partial_message(render.status_message_id)
        # view=None clears the components, so a button never outlives the state it belongs to.
        await translated(
            partial.edit(
                embed=status_embed(
                    render, render_timeout=self._render_timeout, model=self._models.get(render.request.model)
                ),
                allowed_mentions=NO_PINGS,
                view=status_view(render),
            )
        )

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

        async def search() -> int | None:
            # Unbounded on purpose: this runs only after an interrupted post, and in a busy channel the clip may
            # be more than a page after its status message.
            after = discord.Object(render.status_message_id or 0)
            async for message in channel.history(after=after, limit=None):
                reference = message.reference
                if message.author.id == me and reference and reference.message_id == render.status_message_id:
                    return message.id
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

    async def deliver_file(self, render: RenderRecord, path: Path, filename: str) -> int:
        channel = self._channel(render.channel_id)
        message = await translated(
            channel.send(
                content=text.CLIP_READY.format(user=render.user_id),
                file=discord.File(path, filename=filename),
                allowed_mentions=ping_only(render.user_id),
                view=result_view(render.id),
                # Discord drops a second message with the same nonce: a retry after a lost response can't double.
                nonce=render.id[:25],
                reference=self._reference(render),  # type: ignore[arg-type]  # None is accepted at run time
            )
        )
        return message.id

    async def deliver_link(self, render: RenderRecord, url: str | None, size: int | None) -> int:
        shown_size = f"{size / 1_048_576:.1f} MB" if size else "over the limit"
        content = (
            text.CLIP_LINK.format(user=render.user_id, url=url, size=shown_size)
            if url
            else text.CLIP_NO_LINK.format(user=render.user_id)
        )
        message = await translated(
            self._channel(render.channel_id).send(
                content=content,
                allowed_mentions=ping_only(render.user_id),
                view=result_view(render.id),
                nonce=render.id[:25],
                reference=self._reference(render),  # type: ignore[arg-type]  # None is accepted at run time
            )
        )
        return message.id

    async def notify_requester(self, render: RenderRecord, *, url: str | None) -> None:
        prompt = quote_prompt(render.request.prompt, 200)
        if render.state.value in ("failed", "denied"):
            reason = text.failure_reason(render.failure_kind, render.failure_detail, self._render_timeout)
            content = text.DM_FAILED.format(prompt=prompt, reason=reason, refund=text.REFUNDED.format(cost=render.cost))
        elif url:
            content = text.DM_CLIP.format(prompt=prompt, link=url)
        else:
            content = text.DM_CLIP_NO_LINK.format(prompt=prompt)
        try:
            user = self._client.get_user(render.user_id) or await self._client.fetch_user(render.user_id)
            await translated(user.send(content=content, allowed_mentions=NO_PINGS))
        except (discord.HTTPException, ChannelGone, MessageGone, PublishUnavailable) as error:
            # DMs closed or the user is gone: there is nobody left to tell, and retrying forever helps no one.
            log.warning("render %s: could not DM user %s (%s)", render.id, render.user_id, type(error).__name__)

    async def post_approval_request(self, renders: Sequence[RenderRecord], channel_id: int) -> int:
        first = renders[0]
        body = text.APPROVAL_BODY.format(
            user=first.user_id,
            channel=first.channel_id,
            reason=first.approval_reason or "approval rules",
            prompt=quote_prompt(first.request.prompt, 500),
            settings=describe_settings(first.request, self._models.get(first.request.model)),
            cost=sum(r.cost for r in renders),
        )
        embed = discord.Embed(title=text.APPROVAL_TITLE, description=body, colour=discord.Colour.gold())
        message = await translated(
            self._channel(channel_id).send(embed=embed, view=approval_view(first.group_id), allowed_mentions=NO_PINGS)
        )
        return message.id

    async def close_approval_request(self, render: RenderRecord, channel_id: int, message_id: int) -> None:
        decision = text.DENIED_BY if render.state.value == "denied" else text.APPROVED_BY
        partial = self._channel(channel_id).get_partial_message(message_id)
        embed = discord.Embed(
            title=text.APPROVAL_TITLE,
            description=decision.format(moderator=render.decided_by) + "\n" + quote_prompt(render.request.prompt, 500),
            colour=discord.Colour.dark_grey(),
        )
        await translated(partial.edit(embed=embed, view=None, allowed_mentions=NO_PINGS))

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
