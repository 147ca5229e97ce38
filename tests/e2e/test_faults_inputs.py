"""Members' inputs under pressure, end to end: a member can't flood the bot with requests being prepared, images
reach the model without their metadata, and the kill switch and bans reach requests not sent to ModelStream yet."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

from PIL import ExifTags, Image

from tests.e2e.conftest import World, embed_text, eventually, status_messages, wait_title
from tests.e2e.test_moderation import admin, buttons, generate, held_request
from tests.fakes.discord import AttachmentSpec, FakeMessage, FakeUser

# ---- requests being prepared ----------------------------------------------------------------------------------


def photo(name: str) -> AttachmentSpec:
    picture = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return AttachmentSpec(name, out.getvalue(), "image/png")


async def send_with_image(world: World, prompt: str) -> Any:
    return await world.slash(
        "generate", options={"prompt": prompt}, attachments={"first_frame": photo(f"{prompt[:8]}.png")}
    )


async def test_a_third_request_while_two_are_being_prepared_is_asked_to_wait_and_costs_nothing(world: World) -> None:
    await world.start_bot()
    # Discord's CDN is slow today: the first two requests are still downloading their images when the third comes.
    slow = world.discord.delay("/attachments/*", 4.0, method="GET")
    first = await send_with_image(world, "a red fox in snow")
    second = await send_with_image(world, "a blue whale at dawn")
    await eventually(lambda: slow.hits >= 2, timeout=15)

    third = await send_with_image(world, "a green frog on a leaf")
    refused = await world.ephemeral_reply(third)

    assert refused == (
        "You have 2 requests with images being prepared right now. Wait a moment for them to go through, then "
        "send this one again; nothing was charged."
    )
    assert slow.hits == 2  # the third one's image was never even downloaded
    accepted = [await world.ephemeral_reply(first, timeout=30), await world.ephemeral_reply(second, timeout=30)]
    assert all("on its way" in reply for reply in accepted)
    await eventually(lambda: world.create_calls() >= 2, timeout=20)
    prompts = sorted(str(call.json.get("prompt")) for call in world.api.create_calls)
    assert prompts == ["a blue whale at dawn", "a red fox in snow"]
    spent = sum(int(re.search(r"Cost: \*\*(\d+) credits", reply).group(1)) for reply in accepted)  # type: ignore[union-attr]
    quota = await world.ephemeral_reply(await world.slash("quota"))
    assert f"You have **{50 - spent}** of 50 credits left today" in quota  # the third cost nothing


# ---- metadata -------------------------------------------------------------------------------------------------


def phone_photo() -> AttachmentSpec:
    """A JPEG as a phone saves it: GPS position, maker, and "turn 90° to view" (the sensor's picture is sideways)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCorp"
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.6),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.2),
    }
    out = io.BytesIO()
    Image.linear_gradient("L").resize((800, 600)).convert("RGB").save(out, format="JPEG", exif=exif, quality=90)
    return AttachmentSpec("IMG_0001.jpg", out.getvalue(), "image/jpeg")


async def test_a_photo_reaches_the_model_upright_and_without_its_gps_position(world: World) -> None:
    await world.start_bot()
    sent = phone_photo()

    interaction = await world.slash("generate", options={"prompt": "the sun rises"}, attachments={"first_frame": sent})

    assert "on its way" in await world.ephemeral_reply(interaction, timeout=20)
    await eventually(world.create_calls, timeout=15)
    body = world.api.create_calls[0].json
    received = base64.b64decode(body["image"])
    assert received != sent.data
    with Image.open(io.BytesIO(received)) as image:
        assert image.format == "JPEG"
        assert image.size == (600, 800)  # turned as the EXIF said, before the EXIF went
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info
    assert b"PhoneCorp" not in received


# ---- the kill switch and bans ---------------------------------------------------------------------------------


async def not_sent_yet(world: World, user: FakeUser) -> FakeMessage:
    """A request of `user` accepted but not at ModelStream: its create call was turned away (429, wait 20 s: the
    gateway's word holds the bot's whole queue that long), so it waits as accepted. Returns its status message."""
    before = {message.id for message in status_messages(world)}
    world.api.fail_next("create", "429", retry_after="20")
    assert "on its way" in await generate(world, user=user)
    assert world.bot is not None
    await world.bot.wait_output("API unavailable", timeout=20)
    return await world.discord.wait_for(
        lambda: next((m for m in status_messages(world) if m.id not in before), None), timeout=10
    )


async def test_pausing_refunds_a_held_request_and_one_not_sent_yet_and_their_cards_say_so(world: World) -> None:
    await world.start_bot()
    held, approval = await held_request(world)  # alice's pro request, waiting for a moderator
    waiting = await not_sent_yet(world, world.discord.bob)
    calls_before = world.create_calls()

    paused = await admin(world, "pause")

    assert "**paused**" in paused
    assert "2 renders not yet sent to ModelStream were stopped and **" in paused
    for card in (held, waiting):
        shown = await wait_title(world, card, "Failed")
        assert "The moderators paused video generation in this server before this request was sent." in shown
        assert "credits were refunded" in shown
    # The moderators' message stops offering a decision there is nothing left to decide (a press meanwhile would be
    # refused: tests/services/test_approvals.py), and says why.
    closed = await world.discord.wait_for(
        lambda: "No longer waiting for a decision" in embed_text(approval) and not buttons(approval), timeout=20
    )
    assert closed
    assert "paused video generation" in embed_text(approval)
    await admin(world, "resume")
    quota = await world.ephemeral_reply(await world.slash("quota", user=world.discord.alice))
    assert "You have **50** of 50 credits left today" in quota
    assert world.create_calls() == calls_before  # neither was sent after the pause


async def test_banning_a_member_refunds_their_request_not_sent_yet_and_leaves_others_alone(world: World) -> None:
    await world.start_bot()
    bobs = await not_sent_yet(world, world.discord.bob)

    banned = await admin(world, "ban", member=world.discord.bob)

    assert "1 render not yet sent to ModelStream was stopped" in banned
    shown = await wait_title(world, bobs, "Failed")
    assert "The moderators stopped this member from generating videos before this request was sent." in shown
    assert "credits were refunded" in shown
    before = {message.id for message in status_messages(world)}
    assert "on its way" in await generate(world, user=world.discord.alice)
    alices = await world.discord.wait_for(
        lambda: next((m for m in status_messages(world) if m.id not in before), None), timeout=10
    )
    # Alice's request waits out what is left of the gateway's 20 s, then goes: banning Bob did not touch it.
    await wait_title(world, alices, "Done", timeout=45)
