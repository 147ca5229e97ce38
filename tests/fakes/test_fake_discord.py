"""Smoke tests: an unmodified discord.py 2.7 AutoShardedBot, in this event loop, works against FakeDiscord.

The only configuration is what a real bot offers for a REST proxy: `discord.http.Route.BASE`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import AttachmentSpec, FakeDiscord, Perm

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class PressView(discord.ui.View):
    """A persistent view: its button works for any message carrying the custom_id."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Press", custom_id="smoke:press")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[PressView]) -> None:
        await interaction.response.edit_message(content=f"pressed by {interaction.user.name}", view=None)


class StoryboardModal(discord.ui.Modal, title="Storyboard"):
    shots: discord.ui.TextInput[StoryboardModal] = discord.ui.TextInput(label="Shots", custom_id="smoke:shots")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"shots={self.shots.value}", ephemeral=True)


def video_group() -> app_commands.Group:
    group = app_commands.Group(name="video", description="Video clips")

    @group.command(name="generate", description="Generate a clip")
    async def generate(
        interaction: discord.Interaction,
        prompt: str,
        duration: app_commands.Range[int, 3, 15],
        image: discord.Attachment,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await image.read()
        digest = hashlib.sha256(data).hexdigest()
        await interaction.followup.send(f"{prompt}|{duration}|{len(data)}|{digest}", ephemeral=True)

    @group.command(name="storyboard", description="Open the storyboard")
    async def storyboard(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(StoryboardModal())

    return group


def admin_group() -> app_commands.Group:
    admin = app_commands.Group(name="videoadmin", description="Moderation")
    quota = app_commands.Group(name="quota", description="Quotas", parent=admin)

    @quota.command(name="set", description="Set a member's daily credits")
    async def set_quota(interaction: discord.Interaction, member: discord.Member, daily_credits: int) -> None:
        allowed = interaction.permissions.manage_guild
        await interaction.response.send_message(f"{member.id}|{daily_credits}|{allowed}", ephemeral=True)

    return admin


class SmokeBot(commands.AutoShardedBot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
        )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s before every non-initial IDENTIFY; there is no real rate limit here.
        return None

    async def setup_hook(self) -> None:
        self.tree.add_command(video_group())
        self.tree.add_command(admin_group())
        self.add_view(PressView())
        await self.tree.sync()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def api_base(fake: FakeDiscord) -> AsyncIterator[str]:
    previous = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    yield fake.api_base
    discord.http.Route.BASE = previous


@pytest.fixture
async def bot(fake: FakeDiscord, api_base: str) -> AsyncIterator[SmokeBot]:
    client = SmokeBot()
    runner = asyncio.create_task(client.start(fake.token))
    try:
        await fake.wait_for(lambda: fake.identifies or runner.done(), timeout=10)
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait({ready, runner}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()
        assert client.is_ready()
        yield client
    finally:
        await client.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def general(bot: SmokeBot, fake: FakeDiscord) -> discord.TextChannel:
    channel = bot.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_client_logs_in_and_sees_the_guild_with_its_roles(bot: SmokeBot, fake: FakeDiscord) -> None:
    guild = bot.get_guild(fake.guild_id)

    assert guild is not None
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    assert {c.name for c in guild.text_channels} == {"general", "moderators"}
    assert guild.me.guild_permissions.attach_files
    moderator = guild.get_role(fake.moderator_role.id)
    assert moderator is not None and moderator.permissions.manage_guild
    assert fake.identifies[0].intents == discord.Intents.default().value


async def test_tree_sync_is_recorded_with_command_ids(bot: SmokeBot, fake: FakeDiscord) -> None:
    assert len(fake.command_syncs) == 1
    sync = fake.command_syncs[0]
    assert sync.guild_id is None
    assert [c["name"] for c in sync.commands] == ["video", "videoadmin"]
    assert fake.commands()[0]["id"]


async def test_slash_command_options_and_attachment_reach_the_command(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await fake.send_slash_command(
        "video",
        "generate",
        options={"prompt": "a cat", "duration": 7},
        attachments={"image": AttachmentSpec("cat.png", PNG_BYTES, "image/png", width=400, height=300)},
    )

    callback = await fake.wait_callback(sent)
    reply = await fake.wait_for(lambda: fake.followups(sent))

    assert callback.type == 5 and callback.ephemeral
    digest = hashlib.sha256(PNG_BYTES).hexdigest()
    assert reply[0].content == f"a cat|7|{len(PNG_BYTES)}|{digest}"
    assert reply[0].ephemeral
    assert fake.original(sent) is reply[0] and not reply[0].loading


async def test_subcommand_group_with_member_option_resolves_the_member(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await fake.send_slash_command(
        "videoadmin", "set", group="quota", options={"member": fake.bob, "daily_credits": 40}, user=fake.moderator
    )

    await fake.wait_callback(sent)

    original = fake.original(sent)
    assert original is not None and original.content == f"{fake.bob.id}|40|True"


async def test_ephemeral_interaction_replies_stay_out_of_the_channel(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await fake.send_slash_command(
        "video",
        "generate",
        options={"prompt": "p", "duration": 3},
        attachments={"image": AttachmentSpec("a.png", b"x")},
    )

    await fake.wait_for(lambda: fake.followups(sent))

    assert fake.messages(fake.channel_id) == []


async def test_unknown_option_for_a_synced_command_is_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    with pytest.raises(ValueError):
        await fake.send_slash_command("video", "generate", options={"prompt": "p", "colour": "red"})


async def test_channel_message_with_file_records_name_size_and_hash(bot: SmokeBot, fake: FakeDiscord) -> None:
    data = b"\x00clip" * 5000

    sent = await general(bot, fake).send("status", file=discord.File(io.BytesIO(data), "clip.mp4"))

    stored = fake.messages(fake.channel_id)[0]
    assert stored.id == sent.id
    assert stored.file_names == ["clip.mp4"]
    assert stored.attachments[0].size == len(data)
    assert stored.attachments[0].sha256 == hashlib.sha256(data).hexdigest()
    assert stored.attachments[0].read() == data


async def test_reply_pings_only_the_allowed_user(bot: SmokeBot, fake: FakeDiscord) -> None:
    channel = general(bot, fake)
    status = await channel.send("status")

    reply = await status.reply(
        f"{fake.alice.mention} {fake.bob.mention} your clip is ready @everyone",
        allowed_mentions=discord.AllowedMentions(users=[discord.Object(fake.alice.id)], everyone=False, roles=False),
    )

    stored = fake.message(reply.id)
    assert stored is not None and stored.reply_to == status.id
    assert fake.pings(reply.id).users == {fake.alice.id}
    assert not fake.pings(reply.id).everyone


async def test_message_without_allowed_mentions_pings_everyone_mentioned(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send(f"{fake.alice.mention} {fake.bob.mention}")

    assert fake.pings(sent.id).users == {fake.alice.id, fake.bob.id}


async def test_edit_keeps_listed_attachments_and_adds_new_files(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send("v1", file=discord.File(io.BytesIO(b"a" * 10), "a.txt"))

    edited = await sent.edit(
        content="v2", attachments=[*sent.attachments, discord.File(io.BytesIO(b"b" * 20), "b.txt")]
    )
    await edited.edit(content="v3")

    stored = fake.message(sent.id)
    assert stored is not None
    assert stored.content == "v3"
    assert stored.file_names == ["a.txt", "b.txt"]
    assert stored.edits == 2


async def test_deleted_message_gives_not_found(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send("status")
    await fake.delete_message(sent.id)

    with pytest.raises(discord.NotFound) as caught:
        await sent.edit(content="rendering")

    assert caught.value.code == 10008


async def test_deleted_channel_gives_unknown_channel(bot: SmokeBot, fake: FakeDiscord) -> None:
    channel = general(bot, fake)
    await fake.delete_channel(fake.channel_id)

    with pytest.raises(discord.NotFound) as caught:
        await channel.send("hello")

    assert caught.value.code == 10003


async def test_denied_attach_files_gives_missing_permissions(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.deny_bot(fake.channel_id, Perm.ATTACH_FILES)

    with pytest.raises(discord.Forbidden) as caught:
        await general(bot, fake).send("clip", file=discord.File(io.BytesIO(b"x"), "clip.mp4"))

    assert caught.value.code == 50013


async def test_denied_send_messages_shows_in_app_permissions(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.deny_bot(fake.channel_id, Perm.SEND_MESSAGES | Perm.EMBED_LINKS)

    sent = await fake.send_slash_command("video", "storyboard")
    await fake.wait_callback(sent)

    assert not int(sent.payload["app_permissions"]) & Perm.SEND_MESSAGES
    assert int(sent.payload["app_permissions"]) & Perm.ATTACH_FILES


async def test_upload_over_the_limit_gives_413(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.set_upload_limit(1000)

    with pytest.raises(discord.HTTPException) as caught:
        await general(bot, fake).send(file=discord.File(io.BytesIO(b"x" * 1001), "clip.mp4"))

    assert caught.value.status == 413 and caught.value.code == 40005


async def test_rate_limited_send_is_retried_by_discord_py(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.rate_limit("/channels/{channel_id}/messages", method="POST", times=2, retry_after=0.01)

    await general(bot, fake).send("after the limit")

    statuses = [r.status for r in fake.requests_to("/channels/{channel_id}/messages", "POST")]
    assert statuses == [429, 429, 200]
    assert [m.content for m in fake.messages()] == ["after the limit"]


async def test_server_error_503_surfaces_as_discord_server_error(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.fail("/channels/{channel_id}/messages", method="POST", status=503, message="upstream")

    with pytest.raises(discord.DiscordServerError):
        await general(bot, fake).send("x")


async def test_latency_is_added_before_answering(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.delay("/channels/*/messages", 0.2, method="POST")
    loop = asyncio.get_running_loop()
    started = loop.time()

    await general(bot, fake).send("slow")

    assert loop.time() - started >= 0.2


async def test_same_nonce_returns_the_existing_message(bot: SmokeBot, fake: FakeDiscord) -> None:
    channel = general(bot, fake)

    first = await channel.send("delivery", nonce=424242)
    second = await channel.send("delivery", nonce=424242)

    assert first.id == second.id
    assert len(fake.messages()) == 1


async def test_history_lists_newest_first_and_after_filters(bot: SmokeBot, fake: FakeDiscord) -> None:
    channel = general(bot, fake)
    sent = [await channel.send(f"m{i}") for i in range(3)]

    newest_first = [m.content async for m in channel.history(limit=10)]
    after_first = [m.content async for m in channel.history(after=sent[0], limit=10)]

    assert newest_first == ["m2", "m1", "m0"]
    assert after_first == ["m1", "m2"]


async def test_dm_is_sent_to_the_users_dm_channel(bot: SmokeBot, fake: FakeDiscord) -> None:
    user = await bot.fetch_user(fake.alice.id)

    dm = await user.create_dm()
    await dm.send("your channel is gone")

    assert [m.content for m in fake.dm_messages(fake.alice)] == ["your channel is gone"]


async def test_closed_dms_give_forbidden(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.close_dms(fake.bob)
    user = await bot.fetch_user(fake.bob.id)

    with pytest.raises(discord.Forbidden) as caught:
        await user.send("hello")

    assert caught.value.code == 50007


async def test_thread_from_a_message_becomes_a_channel(bot: SmokeBot, fake: FakeDiscord) -> None:
    status = await general(bot, fake).send("status")

    thread = await status.create_thread(name="clip 1")
    await thread.send("discuss here")

    assert [t.name for t in fake.threads(fake.channel_id)] == ["clip 1"]
    assert [m.content for m in fake.messages(thread.id)] == ["discuss here"]


async def test_button_press_updates_the_message(bot: SmokeBot, fake: FakeDiscord) -> None:
    message = await general(bot, fake).send("press me", view=PressView())

    sent = await fake.send_component("smoke:press", message.id, user=fake.bob)
    callback = await fake.wait_callback(sent)

    assert callback.type == 7
    stored = fake.message(message.id)
    assert stored is not None and stored.content == "pressed by bob"
    assert stored.components == []


async def test_modal_is_shown_and_its_submit_is_answered(bot: SmokeBot, fake: FakeDiscord) -> None:
    opened = await fake.send_slash_command("video", "storyboard")
    await fake.wait_callback(opened)
    modal = fake.modal(opened)
    assert modal is not None and modal["title"] == "Storyboard"

    submitted = await fake.send_modal_submit(modal["custom_id"], {"smoke:shots": "3 | a cat"})
    callback = await fake.wait_callback(submitted)

    assert callback.type == 4 and callback.ephemeral
    original = fake.original(submitted)
    assert original is not None and original.content == "shots=3 | a cat"


async def test_late_callback_gets_unknown_interaction(bot: SmokeBot, fake: FakeDiscord) -> None:
    fake.callback_deadline = 0.0

    sent = await fake.send_slash_command("video", "storyboard")
    callback = await fake.wait_callback(sent)

    assert callback.status == 404


async def test_gateway_drop_is_resumed_and_interactions_still_arrive(bot: SmokeBot, fake: FakeDiscord) -> None:
    await fake.drop_gateway()
    await fake.wait_for(lambda: [i for i in fake.identifies if i.op == 6 and i.token_ok])

    sent = await fake.send_slash_command("video", "storyboard")

    assert (await fake.wait_callback(sent)).type == 9


async def test_invalidated_session_makes_the_client_identify_again(
    bot: SmokeBot, fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After INVALID_SESSION discord.py reconnects to DEFAULT_GATEWAY, not to the URL from /gateway/bot.
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    fake.invalidate_sessions()
    await fake.drop_gateway()

    await fake.wait_identified(count=2)

    assert [i.op for i in fake.identifies] == [2, 6, 2]


async def test_wrong_token_fails_login(fake: FakeDiscord, api_base: str) -> None:
    client = SmokeBot()
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()


# ---- the CDN: signed attachment URLs that expire, and refresh-urls -----------------------------------------------


async def cdn_get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def test_attachment_urls_carry_discords_signature_and_are_served(fake: FakeDiscord) -> None:
    att = fake.serve_attachment(AttachmentSpec("cat.png", PNG_BYTES, "image/png"))

    query = parse_qs(urlsplit(att.url).query)
    expires = int(query["ex"][0], 16)
    assert abs(expires - (time.time() + 24 * 3600)) < 5
    assert int(query["is"][0], 16) <= time.time()
    assert len(query["hm"][0]) == 64
    assert await cdn_get(att.url) == (200, PNG_BYTES)
    assert fake.url_works(att.url)


@pytest.mark.parametrize("damage", ["expired", "unsigned", "tampered"])
async def test_cdn_refuses_an_expired_unsigned_or_tampered_url(fake: FakeDiscord, damage: str) -> None:
    att = fake.serve_attachment(AttachmentSpec("cat.png", PNG_BYTES, "image/png"))
    url = {
        "expired": fake.attachment_url(att, lifetime=-1),
        "unsigned": att.url.split("?")[0],
        "tampered": att.url.replace("&hm=", "&hm=0"),
    }[damage]

    status, body = await cdn_get(url)

    assert (status, body.decode()) == (404, "This content is no longer available.")
    assert not fake.url_works(url)


async def test_short_lifetime_makes_urls_that_expire(fake: FakeDiscord) -> None:
    fake.attachment_url_lifetime = 1
    att = fake.serve_attachment(AttachmentSpec("cat.png", PNG_BYTES, "image/png"))

    expires = int(parse_qs(urlsplit(att.url).query)["ex"][0], 16)

    assert expires <= time.time() + 1


async def test_refresh_urls_signs_known_attachments_again_and_is_recorded(bot: SmokeBot, fake: FakeDiscord) -> None:
    att = fake.serve_attachment(AttachmentSpec("cat.png", PNG_BYTES, "image/png"))
    expired = fake.attachment_url(att, lifetime=-1)
    foreign = "https://example.com/picture.png"

    route = discord.http.Route("POST", "/attachments/refresh-urls")
    answer = await bot.http.request(route, json={"attachment_urls": [expired, foreign]})

    (fresh, same) = answer["refreshed_urls"]
    assert (fresh["original"], same) == (expired, {"original": foreign, "refreshed": foreign})
    assert fresh["refreshed"] != expired and fake.url_works(fresh["refreshed"])
    assert await cdn_get(fresh["refreshed"]) == (200, PNG_BYTES)
    assert fake.refresh_calls == [[expired, foreign]]
    assert [r.status for r in fake.requests_to("/attachments/refresh-urls", "POST")] == [200]


async def test_refresh_urls_without_a_list_is_a_form_error(bot: SmokeBot, fake: FakeDiscord) -> None:
    route = discord.http.Route("POST", "/attachments/refresh-urls")

    with pytest.raises(discord.HTTPException) as refused:
        await bot.http.request(route, json={"attachment_urls": []})

    assert (refused.value.status, refused.value.code) == (400, 50035)
    assert fake.refresh_calls == []


# ---- Discord's per-channel limits (opt-in) -------------------------------------------------------------------

EDIT = "/channels/{channel_id}/messages/{message_id}"


def shown(fake: FakeDiscord, message_id: int) -> str:
    message = fake.message(message_id)
    assert message is not None
    return message.content


async def raw_edit(http: aiohttp.ClientSession, url: str, content: str) -> tuple[int, dict[str, str], object]:
    async with http.patch(url, json={"content": content}) as response:
        return response.status, dict(response.headers), await response.json()


async def test_edit_limit_sends_discords_headers_and_refuses_edits_past_it(bot: SmokeBot, fake: FakeDiscord) -> None:
    card = await general(bot, fake).send("card")
    elsewhere = await bot.get_partial_messageable(fake.mod_channel.id).send("elsewhere")
    url = f"{fake.api_base}/channels/{fake.channel_id}/messages/{card.id}"
    auth = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        unlimited = await raw_edit(http, url, "before the switch")
        fake.edit_limit(per=3, seconds=60.0)

        answers = [await raw_edit(http, url, f"edit {n}") for n in range(4)]
        other_channel = await raw_edit(
            http, f"{fake.api_base}/channels/{fake.mod_channel.id}/messages/{elsewhere.id}", "x"
        )
        async with http.post(f"{fake.api_base}/channels/{fake.channel_id}/messages", json={"content": "post"}) as post:
            post_status, post_headers = post.status, dict(post.headers)

    assert "X-RateLimit-Limit" not in unlimited[1]  # opt-in: nothing changes until the switch
    accepted, (refused_status, refused_headers, refused_body) = answers[:3], answers[3]
    assert [status for status, _, _ in accepted] == [200, 200, 200]
    assert [h["X-RateLimit-Remaining"] for _, h, _ in accepted] == ["2", "1", "0"]
    assert {h["X-RateLimit-Limit"] for _, h, _ in accepted} == {"3"}
    assert len({h["X-RateLimit-Bucket"] for _, h, _ in accepted}) == 1
    assert all(0 < float(h["X-RateLimit-Reset-After"]) <= 60 for _, h, _ in accepted)
    assert refused_status == 429
    assert refused_body == {
        "message": "You are being rate limited.",
        "retry_after": float(refused_headers["X-RateLimit-Reset-After"]),
        "global": False,
    }
    assert refused_headers["X-RateLimit-Remaining"] == "0" and refused_headers["Via"]
    assert shown(fake, card.id) == "edit 2"  # the refused edit changed nothing
    assert fake.count_429(EDIT, "PATCH") == 1 and fake.count_429() == 1
    # The limit is per channel, and posting is a bucket of its own.
    assert other_channel[0] == 200 and other_channel[1]["X-RateLimit-Remaining"] == "2"
    assert post_status == 200 and post_headers.get("X-RateLimit-Bucket") != accepted[0][1]["X-RateLimit-Bucket"]


async def test_discord_py_paces_its_edits_by_the_headers_and_gets_no_429(bot: SmokeBot, fake: FakeDiscord) -> None:
    cards = [await general(bot, fake).send(f"card {n}") for n in range(8)]
    fake.edit_limit(per=2, seconds=0.2)

    await asyncio.gather(*(card.edit(content=f"final {n}") for n, card in enumerate(cards)))

    assert [shown(fake, card.id) for card in cards] == [f"final {n}" for n in range(8)]
    assert fake.count_429() == 0
    assert [r.status for r in fake.requests_to(EDIT, "PATCH")] == [200] * 8


# ---- Components V2 -----------------------------------------------------------------------------------------

MESSAGES = "/channels/{channel_id}/messages"
V2 = 1 << 15


class TakeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"smoke:take:(?P<n>[0-9]+)"):
    """A persistent button inside a V2 card: after a restart discord.py rebuilds the card from the message."""

    def __init__(self, number: int) -> None:
        super().__init__(discord.ui.Button(label=f"Take {number}", custom_id=f"smoke:take:{number}"))
        self.number = number

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TakeButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"take {self.number} pressed", ephemeral=True)


def gallery_card(names: list[str], *, heading: str = "## Your takes") -> discord.ui.LayoutView:
    view = discord.ui.LayoutView(timeout=None)
    container: discord.ui.Container[Any] = discord.ui.Container(accent_colour=discord.Colour.green())
    container.add_item(discord.ui.TextDisplay(heading))
    gallery: discord.ui.MediaGallery[Any] = discord.ui.MediaGallery()
    for number, name in enumerate(names, start=1):
        gallery.add_item(media=f"attachment://{name}", description=f"Take {number}")
    container.add_item(gallery)
    row: discord.ui.ActionRow[Any] = discord.ui.ActionRow()
    for number in range(1, len(names) + 1):
        row.add_item(TakeButton(number))
    container.add_item(row)
    view.add_item(container)
    return view


async def raw_post(bot: SmokeBot, fake: FakeDiscord, body: dict[str, Any]) -> discord.HTTPException:
    """Send a message body as is (discord.py itself refuses some of these before sending): Discord's refusal."""
    route = discord.http.Route("POST", MESSAGES, channel_id=fake.channel_id)
    with pytest.raises(discord.HTTPException) as refused:
        await bot.http.request(route, json=body)
    return refused.value


def text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


def container(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 17, "components": list(components)}


async def test_a_v2_card_is_stored_with_its_flag_texts_and_gallery_resolved_to_its_files(
    bot: SmokeBot, fake: FakeDiscord
) -> None:
    clip = discord.File(io.BytesIO(b"clip-one"), "take-1.mp4")

    sent = await general(bot, fake).send(view=gallery_card(["take-1.mp4"]), file=clip)

    stored = fake.message(sent.id)
    assert stored is not None and stored.is_components_v2 and stored.flags & V2
    assert stored.content == "" and stored.embeds == []
    assert stored.texts == ["## Your takes"]
    assert stored.gallery == [("take-1.mp4", "Take 1")]
    # Discord answers with the media resolved to the attachment, as discord.py then reads it.
    fetched = await general(bot, fake).fetch_message(sent.id)
    assert fetched.flags.components_v2
    (shown,) = [item for item in fetched.components[0].children if isinstance(item, discord.MediaGalleryComponent)]
    assert shown.items[0].media.url == stored.attachments[0].url


async def test_an_edit_keeps_the_files_and_adds_one_the_gallery_references(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send(
        view=gallery_card(["take-1.mp4"]), file=discord.File(io.BytesIO(b"one"), "take-1.mp4")
    )
    message = await general(bot, fake).fetch_message(sent.id)

    await message.edit(
        attachments=[*message.attachments, discord.File(io.BytesIO(b"two"), "take-2.mp4")],
        view=gallery_card(["take-1.mp4", "take-2.mp4"]),
    )

    stored = fake.message(sent.id)
    assert stored is not None
    assert stored.file_names == ["take-1.mp4", "take-2.mp4"]
    assert [a.read() for a in stored.attachments] == [b"one", b"two"]
    assert stored.gallery == [("take-1.mp4", "Take 1"), ("take-2.mp4", "Take 2")]


async def test_an_edit_dropping_a_file_the_gallery_still_shows_is_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send(
        view=gallery_card(["take-1.mp4"]), file=discord.File(io.BytesIO(b"one"), "take-1.mp4")
    )

    with pytest.raises(discord.HTTPException) as refused:
        await sent.edit(attachments=[], view=gallery_card(["take-1.mp4"]))

    assert (refused.value.status, refused.value.code) == (400, 50035)
    stored = fake.message(sent.id)
    assert stored is not None and stored.file_names == ["take-1.mp4"]


async def test_a_button_inside_a_v2_card_reaches_its_dynamic_item(bot: SmokeBot, fake: FakeDiscord) -> None:
    bot.add_dynamic_items(TakeButton)
    sent = await general(bot, fake).send(
        view=gallery_card(["a.mp4", "b.mp4"]),
        files=[discord.File(io.BytesIO(b"a"), "a.mp4"), discord.File(io.BytesIO(b"b"), "b.mp4")],
    )

    pressed = await fake.send_component("smoke:take:2", sent.id, user=fake.bob)
    await fake.wait_callback(pressed)

    reply = fake.original(pressed)
    assert reply is not None and reply.content == "take 2 pressed"


async def test_mentions_in_text_displays_ping_as_allowed(bot: SmokeBot, fake: FakeDiscord) -> None:
    view = discord.ui.LayoutView()
    view.add_item(discord.ui.TextDisplay(f"{fake.alice.mention} your clip; {fake.bob.mention} @everyone"))

    sent = await general(bot, fake).send(
        view=view, allowed_mentions=discord.AllowedMentions(users=[discord.Object(fake.alice.id)], everyone=False)
    )

    assert fake.pings(sent.id).users == {fake.alice.id}
    assert not fake.pings(sent.id).everyone


async def test_content_with_the_v2_flag_is_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    refused = await raw_post(bot, fake, {"content": "hello", "flags": V2, "components": [text("card")]})

    assert (refused.status, refused.code) == (400, 50035)
    assert fake.messages(fake.channel_id) == []


async def test_v2_components_without_the_flag_are_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    refused = await raw_post(bot, fake, {"components": [container(text("card"))]})

    assert (refused.status, refused.code) == (400, 50035)


async def test_more_than_40_components_counted_at_every_depth_are_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    # 1 container + 39 text displays = 40: accepted; one more inside the container is refused.
    accepted = container(*(text(f"line {n}") for n in range(39)))
    route = discord.http.Route("POST", MESSAGES, channel_id=fake.channel_id)
    await bot.http.request(route, json={"flags": V2, "components": [accepted]})

    refused = await raw_post(bot, fake, {"flags": V2, "components": [container(*(text("x") for _ in range(40)))]})

    assert (refused.status, refused.code) == (400, 50035)
    assert "40" in str(refused)
    assert len(fake.messages(fake.channel_id)) == 1


async def test_more_than_4000_characters_of_text_are_refused(bot: SmokeBot, fake: FakeDiscord) -> None:
    route = discord.http.Route("POST", MESSAGES, channel_id=fake.channel_id)
    await bot.http.request(route, json={"flags": V2, "components": [text("a" * 2000), text("b" * 2000)]})

    refused = await raw_post(bot, fake, {"flags": V2, "components": [text("a" * 2000), text("b" * 2001)]})

    assert (refused.status, refused.code) == (400, 50035)
    assert "4000" in str(refused)


@pytest.mark.parametrize("count", [0, 11])
async def test_a_media_gallery_holds_one_to_ten_items(bot: SmokeBot, fake: FakeDiscord, count: int) -> None:
    items = [{"media": {"url": f"https://example.com/{n}.png"}} for n in range(count)]

    refused = await raw_post(bot, fake, {"flags": V2, "components": [{"type": 12, "items": items}]})

    assert (refused.status, refused.code) == (400, 50035)


async def test_media_must_name_a_file_of_the_message(bot: SmokeBot, fake: FakeDiscord) -> None:
    gallery = {"type": 12, "items": [{"media": {"url": "attachment://missing.mp4"}}]}

    refused = await raw_post(bot, fake, {"flags": V2, "components": [gallery]})

    assert (refused.status, refused.code) == (400, 50035)
    assert "missing.mp4" in str(refused)


async def test_a_thumbnail_in_a_section_points_to_the_attached_image(bot: SmokeBot, fake: FakeDiscord) -> None:
    view = discord.ui.LayoutView()
    view.add_item(
        discord.ui.Section(
            discord.ui.TextDisplay("a prompt"), accessory=discord.ui.Thumbnail("attachment://first-frame.png")
        )
    )

    sent = await general(bot, fake).send(view=view, file=discord.File(io.BytesIO(PNG_BYTES), "first-frame.png"))

    stored = fake.message(sent.id)
    assert stored is not None and stored.texts == ["a prompt"]
    fetched = await general(bot, fake).fetch_message(sent.id)
    section = fetched.components[0]
    assert isinstance(section, discord.SectionComponent)
    assert isinstance(section.accessory, discord.ThumbnailComponent)
    assert section.accessory.media.url == stored.attachments[0].url


async def test_the_v2_flag_cannot_be_removed_by_an_edit(bot: SmokeBot, fake: FakeDiscord) -> None:
    view = discord.ui.LayoutView()
    view.add_item(discord.ui.TextDisplay("card"))
    sent = await general(bot, fake).send(view=view)

    with pytest.raises(discord.HTTPException) as refused:
        await sent.edit(content="plain again", view=None)

    assert (refused.value.status, refused.value.code) == (400, 50035)
    stored = fake.message(sent.id)
    assert stored is not None and stored.texts == ["card"]


async def test_a_legacy_card_turns_v2_when_its_content_and_embeds_are_cleared(bot: SmokeBot, fake: FakeDiscord) -> None:
    sent = await general(bot, fake).send(embed=discord.Embed(title="old card"))
    view = discord.ui.LayoutView()
    view.add_item(discord.ui.TextDisplay("new card"))

    with pytest.raises(discord.HTTPException):
        await sent.edit(view=view)  # the embed would stay: refused
    await sent.edit(embed=None, content=None, view=view)

    stored = fake.message(sent.id)
    assert stored is not None and stored.is_components_v2 and stored.texts == ["new card"]


async def test_custom_ids_must_be_unique_in_a_message(bot: SmokeBot, fake: FakeDiscord) -> None:
    button = {"type": 2, "style": 2, "label": "Go", "custom_id": "same"}
    row = {"type": 1, "components": [button, dict(button)]}

    refused = await raw_post(bot, fake, {"flags": V2, "components": [container(text("card"), row)]})

    assert (refused.status, refused.code) == (400, 50035)
