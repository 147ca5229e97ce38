"""`/video generate` end to end: what a member sees from the slash command to the clip or the reason it failed.

The real bot runs as a separate process against the fake Discord and the fake ModelStream (see conftest).
"""

from __future__ import annotations

import base64
import socket
from typing import Any

import pytest

from tests.e2e.conftest import (
    API_KEY,
    World,
    embed_text,
    embed_titles,
    eventually,
    image_bytes,
    is_card,
    replies_to,
    wait_title,
)
from tests.fakes.discord import AttachmentSpec, FakeMessage, Perm
from tests.fakes.video_api import FakeVideoApi

# ---- helpers ---------------------------------------------------------------------------------------------


async def status_message(world: World, timeout: float = 10.0) -> FakeMessage:  # noqa: ASYNC109
    return await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None, timeout=timeout)


async def clip_reply(world: World, status: FakeMessage, timeout: float = 20.0) -> FakeMessage:  # noqa: ASYNC109
    return await world.discord.wait_for(lambda: next(iter(replies_to(world, status)), None), timeout=timeout)


def png(name: str, width: int = 640, height: int = 360) -> AttachmentSpec:
    return AttachmentSpec(name, image_bytes(width, height), "image/png")


def components_of(node: Any, kind: int) -> list[dict[str, Any]]:
    """Every component of a given type in a message's or a modal's component tree."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == kind:
            found.append(node)
        for value in node.values():
            found += components_of(value, kind)
    elif isinstance(node, list):
        for item in node:
            found += components_of(item, kind)
    return found


def button(message: FakeMessage, label: str) -> str:
    """The custom_id of the button with this label."""
    return next(str(b["custom_id"]) for b in components_of(message.components, 2) if b.get("label") == label)


def created_payload(world: World, index: int = 0) -> dict[str, Any]:
    body = world.api.create_calls[index].json
    assert isinstance(body, dict)
    return body


# ---- answered at once, status in the channel, clip delivered ---------------------------------------------


async def test_command_is_deferred_ephemerally_within_a_second(world: World) -> None:
    await world.start_bot()

    interaction = await world.slash("generate", options={"prompt": "a cat surfing a wave"})

    callback = await world.discord.wait_callback(interaction)
    assert callback.type == 5
    assert callback.ephemeral
    assert interaction.sent_at is not None
    assert callback.time - interaction.sent_at < 1.5


async def test_status_message_is_edited_from_queued_through_rendering_to_done(world: World) -> None:
    world.api.configure(render_polls=3)
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a lighthouse at dusk"})

    status = await status_message(world)
    await wait_title(world, status, "Done")
    titles = embed_titles(status)
    assert "Queued" in titles[0]
    rendering = next(i for i, title in enumerate(titles) if "Rendering" in title)
    assert all("Done" not in title for title in titles[:rendering])
    assert "Done" in titles[-1]
    assert "The clip is in the reply below." in embed_text(status)


async def test_clip_is_attached_as_an_mp4_reply_to_the_status_message(world: World) -> None:
    world.api.configure(video_size=150_000)
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a red kite over the hills"})

    status = await status_message(world)
    clip = await clip_reply(world, status)
    assert len(clip.attachments) == 1
    attachment = clip.attachments[0]
    assert attachment.filename.endswith(".mp4")
    assert attachment.size == 150_000
    assert attachment.read()[4:8] == b"ftyp"


async def test_only_the_requester_is_pinged_whatever_the_prompt_says(world: World) -> None:
    await world.start_bot()
    prompt = f"@everyone @here look at <@{world.discord.bob.id}> and <@&{world.discord.moderator_role.id}> dancing"

    await world.slash("generate", options={"prompt": prompt})

    status = await status_message(world)
    clip = await clip_reply(world, status)
    pings = world.discord.pings(clip)
    assert pings.users == {world.discord.alice.id}
    assert not pings.everyone and not pings.roles
    assert world.discord.pings(status).users == frozenset()
    assert not world.discord.pings(status).everyone
    assert "@\u200beveryone" in embed_text(status)  # shown, but defused


async def test_first_reply_shows_the_cost_and_the_credits_left(world: World) -> None:
    await world.start_bot()

    interaction = await world.slash("generate", options={"prompt": "a paper boat", "mode": "pro", "duration": 4})

    reply = await world.ephemeral_reply(interaction)
    assert "Cost: **8 credits**" in reply
    assert "You have **42 credits** left today" in reply


# ---- failures, explained -------------------------------------------------------------------------------


async def test_render_failure_shows_the_reason_and_the_refund(world: World) -> None:
    world.api.configure(outcome="failure", failure_reason="The content did not pass the safety review")
    await world.start_bot()

    await world.slash("generate", options={"prompt": "something the reviewer dislikes"})

    status = await status_message(world)
    shown = await wait_title(world, status, "Failed")
    assert "The render failed at ModelStream: The content did not pass the safety review" in shown
    assert "Your 5 credits were refunded." in shown
    assert replies_to(world, status) == []


async def test_api_rejection_on_create_is_shown_with_the_api_message(world: World) -> None:
    world.api.fail_next("create", "400-kling")
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a tiny picture"})

    status = await status_message(world)
    shown = await wait_title(world, status, "Failed")
    assert "ModelStream refused the request" in shown
    assert "Invalid image: image size is too small" in shown
    assert "credits were refunded" in shown
    assert world.create_calls() == 1


async def test_render_stuck_past_the_timeout_fails_as_a_timeout_and_refunds(world: World) -> None:
    world.api.configure(outcome="stuck")
    await world.start_bot(RENDER_TIMEOUT_SECONDS="3")

    await world.slash("generate", options={"prompt": "a render that never ends"})

    status = await status_message(world)
    shown = await wait_title(world, status, "Failed", timeout=20)
    assert "took longer than 3 seconds" in shown
    assert "Your 5 credits were refunded." in shown
    assert replies_to(world, status) == []


# ---- API faults around the create call -----------------------------------------------------------------


async def test_rate_limited_create_is_retried_and_creates_one_task(world: World) -> None:
    world.api.fail_next("create", "429")
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a busy gateway"})

    status = await status_message(world)
    clip = await clip_reply(world, status, timeout=30)
    assert clip.attachments
    assert world.create_calls() == 2  # the refused one and the accepted one
    assert len(world.api.tasks) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_create_waits_while_the_api_refuses_connections_then_is_sent_once(world: World) -> None:
    port = free_port()
    bot = await world.start_bot(MODELSTREAM_BASE_URL=f"http://127.0.0.1:{port}")

    await world.slash("generate", options={"prompt": "patience"})

    status = await status_message(world)
    await bot.wait_output("Could not connect to the video API", timeout=20)
    async with FakeVideoApi(api_key=API_KEY, port=port) as late_api:
        late_api.configure(render_polls=1, video_size=50_000)
        clip = await clip_reply(world, status, timeout=40)
        assert clip.attachments
        assert len(late_api.create_calls) == 1
        assert len(late_api.tasks) == 1


async def test_connection_dropped_after_create_was_sent_is_not_retried(world: World) -> None:
    world.api.fail_next("create", "drop")
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a lost answer"})

    status = await status_message(world)
    shown = await wait_title(world, status, "Failed")
    assert "ModelStream had a problem taking the request" in shown
    assert "Your 5 credits were refunded." in shown
    assert world.create_calls() == 1
    assert world.api.tasks == {}


# ---- the bot's own permissions in the channel ----------------------------------------------------------


@pytest.mark.parametrize(
    ("permission", "named"),
    [
        (Perm.ATTACH_FILES, "Attach Files"),
        (Perm.EMBED_LINKS, "Embed Links"),
        (Perm.SEND_MESSAGES, "Send Messages"),
    ],
    ids=["attach_files", "embed_links", "send_messages"],
)
async def test_missing_bot_permission_is_named_and_nothing_is_sent(world: World, permission: Perm, named: str) -> None:
    world.discord.deny_bot(world.discord.channel, permission)
    await world.start_bot()

    interaction = await world.slash("generate", options={"prompt": "a cat"})

    reply = await world.ephemeral_reply(interaction)
    assert named in reply
    assert "missing" in reply
    assert world.channel_messages() == []
    assert world.create_calls() == 0


# ---- storyboard (multi-shot) ----------------------------------------------------------------------------

STORYBOARD = "3 | Wide shot: a lighthouse at dusk, waves crashing\n2 | Close-up: its lamp flickers on"


def storyboard_input(modal: dict[str, Any]) -> dict[str, Any]:
    return components_of(modal["components"], 4)[0]


async def open_storyboard(world: World, **options: object) -> dict[str, Any]:
    interaction = await world.slash("generate", options={"prompt": "a lighthouse", "multi_shot": True, **options})
    await world.discord.wait_callback(interaction)
    modal = world.discord.modal(interaction)
    assert modal is not None
    return modal


async def submit_storyboard(world: World, modal: dict[str, Any], text: str) -> FakeMessage:
    """Submit the modal; returns the ephemeral reply once it shows the preview or the error."""
    submitted = await world.discord.send_modal_submit(modal["custom_id"], {storyboard_input(modal)["custom_id"]: text})
    await world.ephemeral_reply(submitted)
    original = world.discord.original(submitted)
    assert original is not None
    return original


async def test_multi_shot_answers_with_the_storyboard_modal_first(world: World) -> None:
    await world.start_bot()

    interaction = await world.slash("generate", options={"prompt": "a lighthouse", "multi_shot": True})

    callback = await world.discord.wait_callback(interaction)
    assert callback.type == 9
    assert [c.type for c in world.discord.callbacks(interaction)] == [9]  # no defer before it
    assert storyboard_input(callback.data)["type"] == 4


async def test_storyboard_preview_lists_the_shots_and_send_delivers_a_multi_shot_clip(world: World) -> None:
    await world.start_bot()
    modal = await open_storyboard(world)

    preview = await submit_storyboard(world, modal, STORYBOARD)

    assert "1. (3 s) Wide shot: a lighthouse at dusk, waves crashing" in preview.content
    assert "2. (2 s) Close-up: its lamp flickers on" in preview.content
    assert "Total: 5 s" in preview.content
    assert "Cost: **5 credits**" in preview.content
    assert world.create_calls() == 0  # nothing is sent before the member says so

    await world.discord.send_component(button(preview, "Send"), preview.id)

    status = await status_message(world)
    clip = await clip_reply(world, status)
    assert clip.attachments
    payload = created_payload(world)
    assert payload["duration"] == 5
    metadata = payload["metadata"]
    assert metadata["multi_shot"] is True
    assert metadata["shot_type"] == "customize"
    assert metadata["multi_prompt"] == [
        {"index": 1, "prompt": "Wide shot: a lighthouse at dusk, waves crashing", "duration": "3"},
        {"index": 2, "prompt": "Close-up: its lamp flickers on", "duration": "2"},
    ]


async def test_broken_storyboard_comes_back_with_the_error_and_edit_keeps_the_text(world: World) -> None:
    await world.start_bot()
    modal = await open_storyboard(world, duration=10)
    broken = "3 | Wide shot: a lighthouse at dusk\n2 | Close-up: its lamp flickers on"

    reply = await submit_storyboard(world, modal, broken)

    assert "add up to 5 s but `duration` is 10 s" in reply.content
    labels = [b.get("label") for b in components_of(reply.components, 2)]
    assert "Edit storyboard" in labels and "Send" not in labels
    pressed = await world.discord.send_component(button(reply, "Edit storyboard"), reply.id)
    await world.discord.wait_callback(pressed)
    reopened = world.discord.modal(pressed)
    assert reopened is not None
    assert storyboard_input(reopened).get("value") == broken
    assert world.create_calls() == 0
    assert world.channel_messages() == []


# ---- image and reference modes -------------------------------------------------------------------------


async def test_first_and_last_frame_are_sent_as_image_and_image_tail(world: World) -> None:
    first, last = png("first.png", 640, 360), png("last.png", 800, 450)
    await world.start_bot()

    await world.slash(
        "generate", options={"prompt": "the sun rises"}, attachments={"first_frame": first, "last_frame": last}
    )

    await eventually(world.create_calls, timeout=15)
    payload = created_payload(world)
    assert payload["image"] == base64.b64encode(first.data).decode()
    assert payload["metadata"]["image_tail"] == base64.b64encode(last.data).decode()
    assert payload["metadata"]["sound"] == "off"  # Kling's sound is always sent: off unless the member asks
    assert world.api.tasks[next(iter(world.api.tasks))].ignored == []


async def test_reference_images_are_sent_as_an_image_list(world: World) -> None:
    one, two = png("hero.png"), png("castle.png", 500, 500)
    await world.start_bot()

    await world.slash(
        "generate",
        options={"prompt": "<<<image_1>>> walks towards <<<image_2>>>"},
        attachments={"reference_1": one, "reference_2": two},
    )

    await eventually(world.create_calls, timeout=15)
    payload = created_payload(world)
    assert "image" not in payload
    assert payload["metadata"]["image_list"] == [
        {"image_url": base64.b64encode(one.data).decode()},
        {"image_url": base64.b64encode(two.data).decode()},
    ]


async def test_aspect_ratio_in_image_mode_is_said_to_be_ignored(world: World) -> None:
    await world.start_bot()

    interaction = await world.slash(
        "generate",
        options={"prompt": "the sun rises", "aspect_ratio": "9:16"},
        attachments={"first_frame": png("f.png")},
    )

    reply = await world.ephemeral_reply(interaction)
    assert "`aspect_ratio` is ignored in image mode" in reply
    await eventually(world.create_calls, timeout=15)
    assert "aspect_ratio" not in created_payload(world)["metadata"]
