"""The buttons under a delivered clip: Regenerate, Remix and Delete, including after a restart."""

from __future__ import annotations

import signal

from tests.e2e.conftest import World, embed_text, is_card, replies_to, status_messages, wait_title
from tests.e2e.test_generate import button, components_of
from tests.fakes.discord import FakeMessage


async def delivered_clip(world: World, prompt: str = "a paper boat on a river") -> FakeMessage:
    await world.slash("generate", options={"prompt": prompt})
    status = await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None, timeout=10)
    return await world.discord.wait_for(lambda: next(iter(replies_to(world, status)), None), timeout=20)


async def test_result_has_regenerate_remix_continue_and_delete(world: World) -> None:
    await world.start_bot()

    clip = await delivered_clip(world)

    labels = [c.get("label") for c in components_of(clip.components, 2)]
    assert labels == ["Regenerate", "Remix", "Continue", "Delete"]


async def test_regenerate_renders_the_same_settings_again_after_a_restart(world: World) -> None:
    bot = await world.start_bot()
    await world.slash("generate", options={"prompt": "a paper boat", "mode": "pro", "duration": 4})
    status = await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None, timeout=10)
    clip = await world.discord.wait_for(lambda: next(iter(replies_to(world, status)), None), timeout=20)
    bot.kill(signal.SIGKILL)
    await world.start_bot()

    pressed = await world.discord.send_component(button(clip, "Regenerate"), clip.id, user=world.discord.bob)

    reply = await world.ephemeral_reply(pressed)
    assert "Cost: **8 credits**" in reply
    await world.discord.wait_for(lambda: len(status_messages(world)) == 2, timeout=10)
    second = status_messages(world)[1]
    await wait_title(world, second, "Done")
    first_body, second_body = (call.json for call in world.api.create_calls)
    assert second_body == first_body
    assert f"<@{world.discord.bob.id}>" in embed_text(second)


async def test_remix_opens_the_prompt_and_renders_the_edited_one(world: World) -> None:
    await world.start_bot()
    clip = await delivered_clip(world, "a paper boat on a river")

    pressed = await world.discord.send_component(button(clip, "Remix"), clip.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    (field,) = components_of(modal["components"], 4)
    assert field.get("value") == "a paper boat on a river"
    submitted = await world.discord.send_modal_submit(modal["custom_id"], {field["custom_id"]: "a paper boat at sea"})

    reply = await world.ephemeral_reply(submitted)
    assert "on its way" in reply
    await world.discord.wait_for(lambda: len(world.api.create_calls) == 2, timeout=10)
    assert world.api.create_calls[1].json["prompt"] == "a paper boat at sea"


async def test_remix_with_an_empty_prompt_is_refused_without_a_call(world: World) -> None:
    await world.start_bot()
    clip = await delivered_clip(world)
    pressed = await world.discord.send_component(button(clip, "Remix"), clip.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    (field,) = components_of(modal["components"], 4)

    submitted = await world.discord.send_modal_submit(modal["custom_id"], {field["custom_id"]: "   "})

    reply = await world.ephemeral_reply(submitted)
    assert "`prompt` is empty" in reply
    assert len(world.api.create_calls) == 1


async def test_delete_by_another_member_is_refused(world: World) -> None:
    await world.start_bot()
    clip = await delivered_clip(world)

    pressed = await world.discord.send_component(button(clip, "Delete"), clip.id, user=world.discord.bob)

    reply = await world.ephemeral_reply(pressed)
    assert "Only the member who requested this clip or a moderator can delete it." in reply
    assert not clip.deleted


async def test_delete_by_the_requester_removes_the_clip_and_its_status(world: World) -> None:
    await world.start_bot()
    clip = await delivered_clip(world)
    (status,) = status_messages(world)

    pressed = await world.discord.send_component(button(clip, "Delete"), clip.id)

    assert await world.ephemeral_reply(pressed) == "Deleted."
    assert clip.deleted and status.deleted
