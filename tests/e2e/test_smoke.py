"""The shortest path a member takes: one prompt in, one clip out."""

from __future__ import annotations

from tests.e2e.conftest import World


async def test_prompt_becomes_a_clip_in_the_channel(world: World) -> None:
    await world.start_bot()
    interaction = await world.slash("generate", options={"prompt": "a cat surfing a wave"})

    callback = await world.discord.wait_callback(interaction)
    assert callback.type == 5 and callback.ephemeral
    reply = await world.ephemeral_reply(interaction)
    assert "Cost: **5 credits**" in reply
    clip = await world.discord.wait_message(lambda m: bool(m.attachments), timeout=20)
    assert clip.file_names[0].endswith(".mp4")
    assert world.discord.pings(clip).users == {world.discord.alice.id}
