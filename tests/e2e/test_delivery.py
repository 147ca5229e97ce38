"""Getting the finished clip to the member: attached or linked, whatever the status shape, whatever happened to
the channel or the status message in the meantime."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World, embed_text, replies_to, status_messages, wait_title
from tests.fakes.discord import FakeMessage

MIB = 1024 * 1024


async def status_message(world: World, timeout: float = 10.0) -> FakeMessage:  # noqa: ASYNC109
    return await world.discord.wait_message(lambda m: bool(m.embeds) and m.reply_to is None, timeout=timeout)


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
    assert f"{world.api.base_url}/files/{only_task(world)}.mp4" in reply.content
    assert "too large to upload here" in reply.content
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
    assert f"{world.api.base_url}/files/{only_task(world)}.mp4" in reply.content
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


async def test_deleted_status_message_is_posted_again_and_the_clip_replies_to_the_new_one(world: World) -> None:
    world.api.configure(outcome="stuck")
    await world.start_bot()
    await world.slash("generate", options={"prompt": "a moderator tidies up"})
    first = await status_message(world)
    await wait_title(world, first, "Rendering")

    await world.discord.delete_message(first)
    world.api.set_script(only_task(world), outcome="success", render_polls=0)

    second = await world.discord.wait_message(lambda m: bool(m.embeds) and m.reply_to is None and m.id != first.id)
    clip = await clip_reply(world, second)
    assert clip.attachments
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
