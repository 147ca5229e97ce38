"""Discord's failures reach the services as the publisher errors they know how to handle, and Discord's answers
are read defensively before anything in them is passed on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import discord
import pytest

from bot.discord_app.publisher import DiscordPublisher, translated
from bot.domain.models import load_model_table
from bot.services.ports import (
    ChannelGone,
    MessageGone,
    MessageRefused,
    PermissionMissing,
    PublishUnavailable,
    UploadTooLarge,
)


async def test_a_connection_dropped_by_discord_is_an_outage() -> None:
    async def post() -> int:
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(PublishUnavailable):
        await translated(post())


class FakeHttp:
    """discord.py's HTTP client as refresh_attachment_urls uses it: one request, one canned answer (or error)."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.sent: list[tuple[str, str, Any]] = []

    async def request(self, route: discord.http.Route, *, json: Any = None) -> Any:
        self.sent.append((route.method, route.path, json))
        if self.error is not None:
            raise self.error
        return self.answer


def publisher_with(http: FakeHttp) -> DiscordPublisher:
    publisher = DiscordPublisher(render_timeout=3600.0, models=load_model_table())
    publisher.bind(cast(discord.Client, SimpleNamespace(http=http)))
    return publisher


STALE = "https://cdn.discordapp.com/attachments/1/2/a.png?ex=1&is=0&hm=x"
OTHER = "https://cdn.discordapp.com/attachments/1/2/b.png?ex=1&is=0&hm=y"


async def test_refreshed_urls_are_asked_for_and_mapped_to_the_originals() -> None:
    fresh = STALE.replace("ex=1", "ex=ffffffff")
    http = FakeHttp({"refreshed_urls": [{"original": STALE, "refreshed": fresh}]})

    refreshed = await publisher_with(http).refresh_attachment_urls([STALE])

    assert refreshed == {STALE: fresh}
    assert http.sent == [("POST", "/attachments/refresh-urls", {"attachment_urls": [STALE]})]


async def test_only_web_urls_for_urls_asked_about_are_passed_on() -> None:
    http = FakeHttp(
        {
            "refreshed_urls": [
                {"original": "https://evil.example/x.png", "refreshed": "https://evil.example/y.png"},
                {"original": STALE, "refreshed": "file:///etc/passwd"},
                {"original": OTHER, "refreshed": None},
                "not an entry",
            ]
        }
    )

    assert await publisher_with(http).refresh_attachment_urls([STALE, OTHER]) == {}


async def test_an_answer_without_the_list_refreshes_nothing() -> None:
    assert await publisher_with(FakeHttp({"message": "?"})).refresh_attachment_urls([STALE]) == {}


async def test_discord_failing_the_refresh_is_an_outage_the_tracker_waits_out() -> None:
    http = FakeHttp(error=aiohttp.ServerDisconnectedError())

    with pytest.raises(PublishUnavailable):
        await publisher_with(http).refresh_attachment_urls([STALE])


def discord_error(status: int, code: int) -> discord.HTTPException:
    response = cast(Any, SimpleNamespace(status=status, reason="x"))
    body = {"code": code, "message": "from Discord"}
    if status == 404:
        return discord.NotFound(response, body)
    if status == 403:
        return discord.Forbidden(response, body)
    if status >= 500:
        return discord.DiscordServerError(response, body)
    return discord.HTTPException(response, body)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, 10008, MessageGone),  # Unknown Message
        (404, 10003, ChannelGone),  # Unknown Channel
        (403, 50013, PermissionMissing),  # Missing Permissions: a moderator can give it back
        (403, 50001, PermissionMissing),  # Missing Access
        (403, 160005, MessageRefused),  # the thread is locked
        (403, 50007, MessageRefused),  # the member's DMs are closed
        (400, 50035, MessageRefused),  # Invalid Form Body (content too long)
        (400, 200000, MessageRefused),  # blocked by AutoMod
        (400, 50083, MessageRefused),  # the thread is archived
        (413, 40005, UploadTooLarge),
        (429, 0, PublishUnavailable),  # discord.py gave up waiting out a rate limit
        (503, 0, PublishUnavailable),
    ],
)
async def test_discord_errors_are_sorted_into_the_kinds_the_services_handle(
    status: int, code: int, kind: type[Exception]
) -> None:
    async def call() -> int:
        raise discord_error(status, code)

    with pytest.raises(kind) as raised:
        await translated(call())
    assert type(raised.value) is kind


async def test_missing_access_and_missing_permission_are_told_apart() -> None:
    async def call(code: int) -> int:
        raise discord_error(403, code)

    with pytest.raises(PermissionMissing) as access:
        await translated(call(50001))
    with pytest.raises(PermissionMissing) as permission:
        await translated(call(50013))
    assert (access.value.reason, permission.value.reason) == ("access", "permission")
