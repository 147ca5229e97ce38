"""Buttons and modals after the Discord-layer review: only the pressing guild's renders, failures answered, the
storyboard sent once and as shown, and Regenerate under a failed status message."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World, embed_text, eventually, replies_to, status_messages, wait_title
from tests.e2e.test_generate import (
    STORYBOARD,
    button,
    components_of,
    created_payload,
    open_storyboard,
    status_message,
    submit_storyboard,
)
from tests.e2e.test_moderation import held_request, press
from tests.fakes.discord import FakeMessage

UNKNOWN = "I can't find that request any more."
ELSEWHERE = 1_111_111_111_111_111_111  # a guild id of another server


async def change_rows(world: World, statement: str, **params: object) -> None:
    """Change the bot's database behind its back (another guild's rows, a corrupted row)."""
    assert await world.execute(statement, **params) > 0


def render_id_of(message: FakeMessage, label: str) -> str:
    return button(message, label).rsplit(":", 1)[1]


async def delivered_clip(world: World) -> FakeMessage:
    await world.slash("generate", options={"prompt": "a paper boat on a river"})
    status = await status_message(world)
    return await world.discord.wait_for(lambda: next(iter(replies_to(world, status)), None), timeout=20)


# ---- a button only sees renders of the guild it is pressed in ----------------------------------------------


@pytest.mark.parametrize("label", ["Regenerate", "Delete"])
async def test_a_button_naming_another_guilds_render_finds_nothing(world: World, label: str) -> None:
    await world.start_bot()
    clip = await delivered_clip(world)
    await change_rows(
        world, "UPDATE renders SET guild_id = :g WHERE id = :id", g=ELSEWHERE, id=render_id_of(clip, label)
    )

    pressed = await world.discord.send_component(button(clip, label), clip.id)

    assert await world.ephemeral_reply(pressed) == UNKNOWN
    assert world.create_calls() == 1
    assert not clip.deleted


async def test_remix_of_another_guilds_render_shows_no_prompt_and_renders_nothing(world: World) -> None:
    await world.start_bot()
    clip = await delivered_clip(world)
    await change_rows(
        world, "UPDATE renders SET guild_id = :g WHERE id = :id", g=ELSEWHERE, id=render_id_of(clip, "Remix")
    )

    pressed = await world.discord.send_component(button(clip, "Remix"), clip.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    (field,) = components_of(modal["components"], 4)
    submitted = await world.discord.send_modal_submit(modal["custom_id"], {field["custom_id"]: "a boat at sea"})

    assert not field.get("value")
    assert await world.ephemeral_reply(submitted) == UNKNOWN
    assert world.create_calls() == 1


async def test_approving_a_request_of_another_guild_decides_nothing(world: World) -> None:
    await world.start_bot()
    status, approval = await held_request(world)
    group_id = button(approval, "Approve").rsplit(":", 1)[1]
    await change_rows(world, "UPDATE renders SET guild_id = :g WHERE group_id = :group", g=ELSEWHERE, group=group_id)

    reply = await press(world, approval, "Approve", world.discord.moderator)

    assert reply == "This request was already decided."
    assert "Waiting for a moderator's approval" in embed_text(status)
    assert world.create_calls() == 0


# ---- a failing button is answered ----------------------------------------------------------------------------


async def test_a_button_that_fails_tells_the_member_instead_of_thinking_for_ever(world: World) -> None:
    bot = await world.start_bot()
    clip = await delivered_clip(world)
    corrupted = render_id_of(clip, "Regenerate")
    await change_rows(world, "UPDATE renders SET request_json = '{' WHERE id = :id", id=corrupted)

    pressed = await world.discord.send_component(button(clip, "Regenerate"), clip.id)

    reply = await world.ephemeral_reply(pressed)
    assert reply.startswith("Something went wrong on my side. If your request was accepted")
    await bot.wait_output("RegenerateButton.callback failed", timeout=5)
    assert world.create_calls() == 1


# ---- the storyboard is sent once, as the preview showed it --------------------------------------------------

EDITED = "2 | Aerial shot: the lighthouse on its cliff\n3 | Its lamp sweeps over the sea"


async def edited_preview(world: World) -> tuple[FakeMessage, FakeMessage]:
    """A first preview, Edit pressed on it, a second storyboard submitted: (first preview, second preview)."""
    first = await submit_storyboard(world, await open_storyboard(world), STORYBOARD)
    pressed = await world.discord.send_component(button(first, "Edit storyboard"), first.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    second = await submit_storyboard(world, modal, EDITED)
    return first, second


async def test_an_edited_storyboards_old_preview_loses_its_buttons_and_only_the_new_one_sends(world: World) -> None:
    await world.start_bot()
    first, second = await edited_preview(world)
    old_send = button(first, "Send")

    await world.discord.wait_for(lambda: not components_of(first.components, 2), timeout=5)
    pressed = await world.discord.send_component(old_send, first.id)

    assert "use the buttons under the newest preview" in await world.ephemeral_reply(pressed)
    assert world.create_calls() == 0
    await world.discord.send_component(button(second, "Send"), second.id)
    await eventually(world.create_calls, timeout=15)
    shots = created_payload(world)["metadata"]["multi_prompt"]
    assert [shot["prompt"] for shot in shots] == [
        "Aerial shot: the lighthouse on its cliff",
        "Its lamp sweeps over the sea",
    ]


async def test_a_storyboard_is_sent_once_whichever_send_is_pressed_again(world: World) -> None:
    await world.start_bot()
    first, second = await edited_preview(world)
    old_send, new_send = button(first, "Send"), button(second, "Send")

    await world.discord.send_component(new_send, second.id)
    again = await world.discord.send_component(new_send, second.id)
    older = await world.discord.send_component(old_send, first.id)

    assert "already sent" in await world.ephemeral_reply(again)
    assert "already sent" in await world.ephemeral_reply(older)
    await wait_title(world, await status_message(world), "Done")
    assert world.create_calls() == 1
    assert len(status_messages(world)) == 1


# ---- a failed status message offers Regenerate --------------------------------------------------------------


async def test_a_failed_render_offers_regenerate_which_renders_it_again(world: World) -> None:
    world.api.configure(outcome="failure")
    await world.start_bot()
    await world.slash("generate", options={"prompt": "a lighthouse in a storm"})
    failed = await status_message(world)
    await wait_title(world, failed, "Failed")
    assert [b.get("label") for b in components_of(failed.components, 2)] == ["Regenerate"]
    world.api.configure(outcome="success")

    pressed = await world.discord.send_component(button(failed, "Regenerate"), failed.id)

    assert "on its way" in await world.ephemeral_reply(pressed)
    await world.discord.wait_for(lambda: len(status_messages(world)) == 2, timeout=10)
    again = status_messages(world)[1]
    await wait_title(world, again, "Done")
    assert components_of(again.components, 2) == []
    assert world.create_calls() == 2
