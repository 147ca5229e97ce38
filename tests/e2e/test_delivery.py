"""Getting the finished clip to the member: attached or linked, whatever the status shape, whatever happened to
the channel or the status message in the meantime."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World, embed_text, is_card, replies_to, shown_text, status_messages, wait_title
from tests.fakes.discord import FakeMessage

MIB = 1024 * 1024


async def status_message(world: World, timeout: float = 10.0) -> FakeMessage:  # noqa: ASYNC109
    return await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None, timeout=timeout)


async def clip_reply(world: World, status: FakeMessage, timeout: float = 20.0) -> FakeMessage:  # noqa: ASYNC109
    return await world.discord.wait_for(lambda: next(iter(replies_to(world, status)), None), timeout=timeout)


def only_task(world: World) -> str:
    (task_id,) = world.api.tasks
    return task_id


# ---- attached when it fits, linked when it does not ---------------------------------------------------


async def test_clip_over_the_interactions_upload_limit_is_linked_not_attached(world: World) -> None:
    world.api.configure(video_size=300_000)
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a long panorama"}, attachment_size_limit=100_000)

    status = await status_message(world)
    reply = await clip_reply(world, status)
    assert reply.attachments == []
    assert f"{world.api.base_url}/files/{only_task(world)}.mp4" in shown_text(reply)
    assert "too large to upload here" in shown_text(reply).lower()
    assert world.discord.pings(reply).users == {world.discord.alice.id}
    assert world.discord.uploads == []


async def test_discord_refusing_the_upload_with_413_falls_back_to_a_link(world: World) -> None:
    world.api.configure(video_size=300_000)
    world.discord.set_upload_limit(100_000)  # the real limit is lower than what the interaction claimed
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a long panorama"}, attachment_size_limit=10 * MIB)

    status = await status_message(world)
    reply = await clip_reply(world, status)
    assert reply.attachments == []
    assert f"{world.api.base_url}/files/{only_task(world)}.mp4" in shown_text(reply)
    refused = [r for r in world.discord.requests_to("/channels/{channel_id}/messages", "POST") if r.status == 413]
    assert len(refused) == 1
    assert len(replies_to(world, status)) == 1


# ---- every status shape the API may answer in ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["A", "B", "B-old", "C", "D"])
async def test_every_status_shape_ends_with_the_clip_attached(world: World, shape: str) -> None:
    world.api.configure(shape=shape, video_size=120_000)
    await world.start_bot()

    await world.slash("generate", options={"prompt": f"shape {shape}"})

    status = await status_message(world)
    clip = await clip_reply(world, status)
    assert [a.size for a in clip.attachments] == [120_000]
    await wait_title(world, status, "Done")
    fetched_from_gateway = world.api.calls("GET", f"/v1/videos/{only_task(world)}/content")
    # Shape D carries no URL: the bot must fetch the bytes through the gateway; the others give a URL.
    assert bool(fetched_from_gateway) == (shape == "D")


# ---- the status message or the channel went away -------------------------------------------------------


async def test_deleted_status_message_is_posted_again_and_the_clip_still_arrives_once(world: World) -> None:
    world.api.configure(outcome="stuck")
    await world.start_bot()
    await world.slash("generate", options={"prompt": "a moderator tidies up"})
    first = await status_message(world)
    await wait_title(world, first, "Rendering")

    await world.discord.delete_message(first)
    world.api.set_script(only_task(world), outcome="success", render_polls=0)

    second = await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None and m.id != first.id)
    clip = await world.discord.wait_message(lambda m: bool(m.attachments), timeout=20)
    # Clips go first: when the render ends before the bot learns its card was deleted, the clip cannot reply to a
    # card that does not exist yet, and comes as a plain message; otherwise it replies to the new card.
    assert clip.reply_to in (None, second.id)
    assert world.discord.pings(clip).users == {world.discord.alice.id}
    await wait_title(world, second, "Done")
    assert status_messages(world) == [second]
    assert [m.id for m in world.channel_messages() if m.attachments] == [clip.id]


async def test_requester_gets_a_dm_when_the_channel_is_deleted(world: World) -> None:
    world.api.configure(outcome="stuck")
    await world.start_bot()
    await world.slash("generate", options={"prompt": "a channel about to vanish"})
    status = await status_message(world)
    await wait_title(world, status, "Rendering")

    await world.discord.delete_channel(world.discord.channel)
    world.api.set_script(only_task(world), outcome="success", render_polls=0)

    await world.discord.wait_for(lambda: world.discord.dm_messages(world.discord.alice), timeout=20)
    assert world.bot is not None
    await world.bot.stop()  # lets the step in progress finish: any second DM would be sent by now
    dms = world.discord.dm_messages(world.discord.alice)
    assert len(dms) == 1
    assert "a channel about to vanish" in dms[0].content
    assert "can't post in its channel any more" in dms[0].content
    assert f"/files/{only_task(world)}.mp4" in dms[0].content
    assert "Rendering" in embed_text(status)  # nothing more could be said there


# ---- Discord refusing the clip -----------------------------------------------------------------------------


async def test_missing_permission_is_shown_dmed_once_and_the_clip_follows_when_it_returns(world: World) -> None:
    world.api.configure(outcome="stuck")
    # A wait of 36 s: the bot then tries every 3 s (a dozen times within the wait) instead of every 5 minutes.
    await world.start_bot(DELIVERY_WAIT_HOURS="0.01")
    await world.slash("generate", options={"prompt": "a lighthouse at dusk"})
    status = await status_message(world)
    await wait_title(world, status, "Rendering")
    # A moderator took Attach Files / Send Messages away: posts are refused, the card can still be edited.
    world.discord.fail(
        f"/channels/{world.discord.channel.id}/messages",  # this channel only: DMs still go through
        method="POST",
        status=403,
        code=50013,
        message="Missing Permissions",
        times=None,
    )
    world.api.set_script(only_task(world), outcome="success", render_polls=0)

    await world.discord.wait_for(lambda: "missing a permission" in embed_text(status), timeout=20)
    await world.discord.wait_for(lambda: world.discord.dm_messages(world.discord.alice), timeout=20)
    refused = [r for r in world.discord.requests_to("/channels/{channel_id}/messages", "POST") if r.status == 403]
    await world.discord.wait_for(
        lambda: (
            len([r for r in world.discord.requests_to("/channels/{channel_id}/messages", "POST") if r.status == 403])
            > len(refused)
        ),
        timeout=20,
    )
    world.discord.clear_faults()  # the permission is back

    clip = await clip_reply(world, status)
    assert clip.attachments
    await wait_title(world, status, "Done")
    [dm] = world.discord.dm_messages(world.discord.alice)
    assert "a lighthouse at dusk" in dm.content and "Attach Files" in dm.content
    assert len(world.api.calls("GET", "/files/")) == 1  # the clip was kept, not downloaded for each try


async def test_a_clip_refused_for_good_falls_back_to_a_link(world: World) -> None:
    world.api.configure(video_size=50_000, outcome="stuck")
    await world.start_bot()
    await world.slash("generate", options={"prompt": "a quiet harbour"})
    status = await status_message(world)
    await wait_title(world, status, "Rendering")
    # AutoMod blocks the message with the file (Discord's 200000): the same post would be blocked again.
    world.discord.fail(
        f"/channels/{world.discord.channel.id}/messages",
        method="POST",
        status=400,
        code=200000,
        message="Message was blocked by AutoMod",
        times=1,
    )
    world.api.set_script(only_task(world), outcome="success", render_polls=0)

    reply = await clip_reply(world, status)

    assert reply.attachments == []
    assert f"/files/{only_task(world)}.mp4" in shown_text(reply)
    await wait_title(world, status, "Done")
