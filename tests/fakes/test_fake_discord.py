"""Smoke tests: an unmodified discord.py 2.7 AutoShardedBot, in this event loop, works against FakeDiscord.

The only configuration is what a real bot offers for a REST proxy: `discord.http.Route.BASE`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import AsyncIterator
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
