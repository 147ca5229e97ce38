"""Continue, Stitch and clips that fit, end to end: the real bot against the fake Discord and the fake gateway,
which serves real MP4s made with PyAV. What is checked is what a member sees: the frame the next shot starts
from, the length of the stitched video, a re-encoded clip that plays, and buttons that work after a restart."""

from __future__ import annotations

import asyncio
import base64
import io
import signal
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from tests.e2e.conftest import World, eventually, shown_text
from tests.e2e.test_generate import button, components_of
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.media.clips import BLUE, GREEN, RED, YELLOW, Colour, centre_colour, close, noise_clip, solid_clip, watch

# Kling, the default model, takes first frames of at least 300 px on the short side.
FRAME_SIZE = (480, 320)


def clip_file(tmp: Path, name: str, colours: list[Colour], frames_each: int = 10) -> Path:
    return solid_clip(tmp / f"{name}.mp4", colours, size=FRAME_SIZE, frames_each=frames_each)


async def renders(world: World) -> list[dict[str, Any]]:
    rows = await world.rows(
        "SELECT id, state, status_message_id, result_message_id, parent_id, chain_position, cost "
        "FROM renders ORDER BY created_at, take_index"
    )
    keys = ("id", "state", "status", "result", "parent_id", "chain_position", "cost")
    return [dict(zip(keys, row, strict=True)) for row in rows]


async def delivered(world: World, count: int) -> FakeMessage:
    """The clip message of the `count`th render, once it is delivered (read from what the bot recorded)."""

    async def nth() -> dict[str, Any] | None:
        rows = await renders(world)
        return rows[count - 1] if len(rows) >= count and rows[count - 1]["state"] == "delivered" else None

    async with asyncio.timeout(30):
        # What the bot wrote is no Discord event to wait on: a short poll of the database is the way to watch it.
        while (row := await nth()) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    message = world.discord.message(int(row["result"]))
    assert message is not None
    return message


async def first_clip(world: World, prompt: str = "a paper boat on a river") -> FakeMessage:
    await world.slash("generate", options={"prompt": prompt})
    return await delivered(world, 1)


async def press_continue(world: World, clip: FakeMessage, prompt: str, duration: str = "") -> FakeInteraction:
    pressed = await world.discord.send_component(button(clip, "Continue"), clip.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    prompt_field, duration_field = components_of(modal["components"], 4)
    return await world.discord.send_modal_submit(
        modal["custom_id"], {prompt_field["custom_id"]: prompt, duration_field["custom_id"]: duration}
    )


async def final_reply(world: World, interaction: FakeInteraction, *words: str) -> FakeMessage:
    """The ephemeral reply once it says one of `words` (a Continue shows its frame first, then the outcome)."""

    def answered() -> FakeMessage | None:
        message = world.discord.original(interaction)
        if message is None or message.loading or not any(word in message.content for word in words):
            return None
        return message

    return await world.discord.wait_for(answered, timeout=30)


def last_frame_colour(data: bytes) -> Colour:
    with av.open(io.BytesIO(data)) as container:
        *_, last = container.decode(video=0)
        return centre_colour(last.to_image())


def image_colour(data: bytes) -> Colour:
    return centre_colour(Image.open(io.BytesIO(data)))


def labels(message: FakeMessage) -> list[str]:
    return [str(c.get("label")) for c in components_of(message.components, 2)]


# ---- Continue ---------------------------------------------------------------------------------------------


async def test_continue_starts_the_next_shot_from_the_delivered_clips_last_frame(world: World, tmp_path: Path) -> None:
    world.api.configure(video_file=str(clip_file(tmp_path, "first", [RED, GREEN, BLUE])))
    await world.start_bot()
    clip = await first_clip(world)
    assert labels(clip) == ["Regenerate", "Remix", "Continue", "Delete"]

    submitted = await press_continue(world, clip, "the boat reaches the sea")

    reply = await final_reply(world, submitted, "on its way")
    await eventually(lambda: len(world.api.create_calls) == 2, timeout=20)
    body = world.api.create_calls[1].json
    assert isinstance(body, dict)
    assert body["prompt"] == "the boat reaches the sea"
    sent = image_colour(base64.b64decode(body["image"]))
    delivered_file = clip.attachments[0].read()
    assert close(sent, last_frame_colour(delivered_file))
    assert close(sent, BLUE)  # the last frame, not the first
    # The member sees the frame the shot starts from.
    assert [a.filename for a in reply.attachments] == ["last-frame.png"]
    assert close(image_colour(reply.attachments[0].read()), BLUE)
    first, second = await renders(world)
    assert (first["chain_position"], second["parent_id"], second["chain_position"]) == (1, first["id"], 2)
    # The next shot's card answers the clip it continues, in the same channel.
    status = world.discord.message(int(second["status"]))
    assert status is not None and (status.channel_id, status.reply_to) == (clip.channel_id, clip.id)


async def test_continue_with_a_length_the_model_does_not_take_is_refused_without_a_charge(
    world: World, tmp_path: Path
) -> None:
    world.api.configure(video_file=str(clip_file(tmp_path, "first", [RED, BLUE])))
    await world.start_bot()
    clip = await first_clip(world)

    submitted = await press_continue(world, clip, "the boat reaches the sea", duration="40")

    reply = await final_reply(world, submitted, "`duration`")
    assert "3–15 s" in reply.content
    assert len(world.api.create_calls) == 1
    assert len(await renders(world)) == 1


# ---- Stitch, and buttons after a restart ---------------------------------------------------------------------


async def test_stitch_after_a_restart_joins_the_chain_into_one_video_of_its_total_length(
    world: World, tmp_path: Path
) -> None:
    first_file = clip_file(tmp_path, "first", [RED], frames_each=10)  # 1 s
    second_file = clip_file(tmp_path, "second", [YELLOW], frames_each=15)  # 1.5 s
    world.api.configure(video_file=str(first_file))
    bot = await world.start_bot()
    clip = await first_clip(world)
    world.api.configure(video_file=str(second_file))
    bot.kill(signal.SIGKILL)
    bot = await world.start_bot()

    submitted = await press_continue(world, clip, "the boat reaches the sea", duration="4")
    await final_reply(world, submitted, "on its way")
    second = await delivered(world, 2)
    assert labels(second) == ["Regenerate", "Remix", "Continue", "Stitch", "Delete"]
    bot.kill(signal.SIGKILL)
    await world.start_bot()
    pressed = await world.discord.send_component(button(second, "Stitch"), second.id, user=world.discord.bob)

    reply = await final_reply(world, pressed, "Stitched")
    [stitched] = [m for m in world.channel_messages() if m.reply_to == second.id]
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(stitched.attachments[0].read())
    seen = watch(joined)
    assert seen.duration == pytest.approx(watch(first_file).duration + watch(second_file).duration, abs=0.1)
    assert close(seen.colours[0], RED) and close(seen.colours[-1], YELLOW)
    assert "2 clips" in stitched.content and "2 clips" in reply.content
    assert world.discord.pings(stitched).users == set()
    # Free: no render, no credits, nothing sent to the gateway.
    assert len(world.api.create_calls) == 2
    assert len(await renders(world)) == 2


# ---- clips that fit ----------------------------------------------------------------------------------------


async def test_a_clip_over_the_upload_limit_is_re_encoded_under_it_and_plays_with_the_original_link(
    world: World, tmp_path: Path
) -> None:
    big = noise_clip(tmp_path / "big.mp4", size=(320, 240), frames=20, audio=True, centres=[GREEN])
    world.api.configure(video_file=str(big))
    await world.start_bot()

    await world.slash("generate", options={"prompt": "a long panorama"}, attachment_size_limit=150_000)

    clip = await delivered(world, 1)
    [attachment] = clip.attachments
    assert attachment.size <= 150_000 < big.stat().st_size
    posted = tmp_path / "posted.mp4"
    posted.write_bytes(attachment.read())
    seen = watch(posted)
    assert seen.frames == 20 and all(close(colour, GREEN) for colour in seen.colours)
    [task_id] = world.api.tasks
    assert f"{world.api.base_url}/files/{task_id}.mp4" in shown_text(clip)
    assert "Re-encoded to fit" in shown_text(clip)
    assert world.discord.pings(clip).users == {world.discord.alice.id}
    assert labels(clip) == ["Regenerate", "Remix", "Continue", "Delete"]
