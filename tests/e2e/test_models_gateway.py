"""Models and the gateway, end to end, each on a bot of its own: an operator's MODELS_FILE that renames a field,
a model the gateway can't serve (model_not_found), a Veo clip the gateway has no video for, and a URL-only model
whose attachment URL expired while the request waited for a moderator."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import World, replies_to, wait_title
from tests.e2e.test_models import rendered, send, status_with
from tests.e2e.test_moderation import admin, buttons, press


async def test_an_operator_file_that_renames_a_field_changes_the_create_body(world: World) -> None:
    models_file = world.workdir / "models.toml"
    models_file.write_text(
        '# negative prompts go in metadata at our gateway\n[models."wan-2.6".fields]\n'
        'negative_prompt = "metadata.negative_prompt"\n',
        encoding="utf-8",
    )
    await world.start_bot(MODELS_FILE=str(models_file))

    sent = await send(world, "a paper boat", model="wan-2.6", negative_prompt="blurry", seed=3)
    await rendered(world, sent)

    assert sent.body["metadata"] == {"negative_prompt": "blurry"}
    assert "negative_prompt" not in sent.body
    assert (sent.body["model"], sent.body["seed"], sent.body["ratio"]) == ("wan2.6-t2v", 3, "16:9")
    (task,) = world.api.tasks.values()
    assert task.ignored == []


async def test_model_not_found_refunds_says_pick_another_and_holds_the_model(world: World) -> None:
    world.api.withdraw("veo-3.1")
    await world.start_bot()

    sent = await send(world, "a storm at sea", model="veo-3.1", mode="pro", duration=8, sound=True)

    assert "Cost: **48 credits**" in sent.reply
    status = await world.discord.wait_for(lambda: status_with(world, sent.tag), timeout=15)
    shown = await wait_title(world, status, "Failed")
    assert "ModelStream can't run Veo 3.1 right now. Pick another model with `model`" in shown
    assert "Your 48 credits were refunded." in shown
    assert replies_to(world, status) == []
    assert len(world.api.create_calls) == 1

    again = await send(world, "a storm at sea, again", model="veo-3.1")

    assert "Veo 3.1 (`veo-3.1`) can't be used right now" in again.reply
    assert "`kling-v3`" in again.reply  # the models that can be picked instead
    assert world.discord.callbacks(again.interaction)[0].ephemeral
    assert len(world.api.create_calls) == 1
    assert status_with(world, again.tag) is None
    quota = await world.ephemeral_reply(await world.slash("quota"))
    assert "You have **50** of 50 credits left today" in quota  # the 48 were refunded, nothing else reserved


async def test_veo_clip_the_gateway_has_no_video_for_fails_refunded_and_says_so(world: World) -> None:
    await world.start_bot()
    world.api.fail_next("content", "400-kling")  # the task said done, but /content refuses (a filtered clip)

    sent = await send(world, "a storm at sea", model="veo-3.1", mode="pro", duration=8, sound=True)

    assert "Cost: **48 credits**" in sent.reply
    status = await world.discord.wait_for(lambda: status_with(world, sent.tag), timeout=15)
    shown = await wait_title(world, status, "Failed")
    assert "ModelStream reported the render finished but has no video to give" in shown
    assert "Your 48 credits were refunded." in shown
    assert replies_to(world, status) == []  # no clip, no link, no "too large" message
    (task_id,) = world.api.tasks
    assert len(world.api.calls("GET", f"/v1/videos/{task_id}/content")) == 1
    quota = await world.ephemeral_reply(await world.slash("quota"))
    assert "You have **50** of 50 credits left today" in quota


async def test_url_model_held_longer_than_the_attachment_url_lives_is_sent_a_refreshed_url(world: World) -> None:
    await world.start_bot()
    await admin(world, "approvals", enabled=True, pro_mode=True, channel=world.discord.mod_channel)
    world.discord.attachment_url_lifetime = 3  # the member's attachment URL stops working while the request waits

    sent = await send(world, "the beam sweeps the sea", ("first_frame",), model="wan-2.6", mode="pro", seed=5)

    assert "waiting for a moderator's approval" in sent.reply
    approval = await world.discord.wait_message(lambda m: "Approve" in buttons(m), world.discord.mod_channel.id)
    original = sent.url("first_frame")
    await expired(world, original)
    world.discord.attachment_url_lifetime = 24 * 3600
    assert world.api.create_calls == []

    await press(world, approval, "Approve", world.discord.moderator)

    await rendered(world, sent)
    fresh = sent.body["img_url"]
    assert fresh != original
    assert world.discord.refresh_calls == [[original]]
    # Discord's own CDN URL, signed again: never a URL on the bot's machine, never the bytes.
    assert fresh.startswith(f"{world.discord.base_url}/attachments/") and fresh.split("?")[0] == original.split("?")[0]
    assert world.discord.url_works(fresh)
    assert (fresh, 200) in world.api.image_fetches
    assert world.api.image_fetches[-1] == (fresh, 200)


async def expired(world: World, url: str) -> None:
    """Wait until the fake CDN refuses `url` (its `ex` has passed)."""
    async with asyncio.timeout(6):
        while world.discord.url_works(url):  # noqa: ASYNC110 - the CDN records no event for time passing
            await asyncio.sleep(0.1)
