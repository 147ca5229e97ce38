"""Moderation end to end: quotas, /videoadmin, models, the kill switch, approvals by button and spend alerts,
through the fake Discord against the real bot process."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import World, embed_text, eventually, is_card, replies_to, status_messages, wait_title
from tests.e2e.test_generate import components_of
from tests.fakes.discord import FakeMessage, FakeUser

ADMIN = "videoadmin"


async def admin(world: World, subcommand: str, *, group: str | None = None, **options: object) -> str:
    """A moderator runs /videoadmin [group] subcommand; returns the ephemeral reply."""
    interaction = await world.slash(subcommand, name=ADMIN, group=group, user=world.discord.moderator, options=options)
    return await world.ephemeral_reply(interaction)


async def generate(world: World, user: FakeUser | None = None, **options: object) -> str:
    interaction = await world.slash(
        "generate", user=user or world.discord.alice, options={"prompt": "a lighthouse in a storm", **options}
    )
    return await world.ephemeral_reply(interaction)


async def quota_reply(world: World) -> str:
    return await world.ephemeral_reply(await world.slash("quota"))


async def crafted_admin(world: World, subcommand: str, **options: object) -> str:
    """A member without Manage Server sends /videoadmin anyway (a crafted interaction)."""
    interaction = await world.slash(
        subcommand, name=ADMIN, user=world.discord.alice, member_permissions=0, options=options
    )
    return await world.ephemeral_reply(interaction)


async def created_body(world: World) -> dict[str, Any]:
    """The JSON body of the first create call, once the bot has sent it."""
    await eventually(world.create_calls, timeout=15)
    body = world.api.create_calls[0].json
    assert isinstance(body, dict)
    return body


def buttons(message: FakeMessage) -> dict[str, str]:
    """Label -> custom_id of the message's buttons (in rows, or inside a V2 card's container)."""
    return {
        button["label"]: button["custom_id"] for button in components_of(message.components, 2) if "custom_id" in button
    }


async def press(world: World, message: FakeMessage, label: str, user: FakeUser) -> str:
    interaction = await world.discord.send_component(buttons(message)[label], message.id, user=user)
    return await world.ephemeral_reply(interaction)


async def held_request(world: World) -> tuple[FakeMessage, FakeMessage]:
    """Turn approvals on for pro requests, send one; returns (its status message, the approval request)."""
    await admin(world, "approvals", enabled=True, pro_mode=True, channel=world.discord.mod_channel)
    reply = await generate(world, mode="pro")
    assert "waiting for a moderator's approval" in reply
    status = await world.discord.wait_message(lambda m: is_card(m))
    approval = await world.discord.wait_message(lambda m: "Approve" in buttons(m), world.discord.mod_channel.id)
    return status, approval


# ---- quotas ------------------------------------------------------------------------------------------------------


async def test_member_over_quota_is_refused_and_nothing_reaches_the_api(world: World) -> None:
    await world.start_bot(DEFAULT_DAILY_CREDITS="4")

    reply = await generate(world, duration=5)

    assert "This request costs **5 credits** but you have **4** left today" in reply
    assert world.create_calls() == 0
    assert status_messages(world) == []


async def test_moderator_sets_a_limit_and_the_next_request_obeys_it(world: World) -> None:
    await world.start_bot()
    alice = world.discord.alice

    set_reply = await admin(world, "set", group="quota", target=alice, daily_credits=3)
    refused = await generate(world, duration=5)
    raised = await admin(world, "set", group="quota", target=alice, daily_credits=8)
    accepted = await generate(world, duration=5)

    assert set_reply == f"Daily credits of <@{alice.id}>: no override → **3**."
    assert "you have **3** left today" in refused
    assert raised == f"Daily credits of <@{alice.id}>: 3 → **8**."
    assert "You have **3 credits** left today" in accepted
    assert world.create_calls() <= 1  # only the accepted request may reach the API


async def test_crafted_videoadmin_from_a_member_without_manage_server_is_refused(world: World) -> None:
    await world.start_bot()

    crafted = await world.slash("pause", name=ADMIN, user=world.discord.alice, member_permissions=0)
    refusal = await world.ephemeral_reply(crafted)

    assert "Only members with the **Manage Server** permission can use `/videoadmin`" in refusal
    assert "on its way" in await generate(world)  # not paused
    assert await admin(world, "audit") == "No changes recorded yet."


# ---- kill switch -------------------------------------------------------------------------------------------------


async def test_pause_stops_new_requests_and_resume_lets_them_through(world: World) -> None:
    await world.start_bot()

    paused = await admin(world, "pause")
    refused = await generate(world)
    calls_while_paused = world.create_calls()
    resumed = await admin(world, "resume")
    accepted = await generate(world)

    assert "**paused**" in paused
    assert refused == "Video generation is paused in this server by the moderators. Please try again later."
    assert calls_while_paused == 0
    assert "**running** again" in resumed
    assert "on its way" in accepted


# ---- approvals ---------------------------------------------------------------------------------------------------


async def test_approved_request_is_rendered_and_delivered(world: World) -> None:
    await world.start_bot()
    status, approval = await held_request(world)
    assert "Waiting for a moderator's approval" in embed_text(status)
    assert world.create_calls() == 0

    refused = await press(world, approval, "Approve", world.discord.alice)
    done = await press(world, approval, "Approve", world.discord.moderator)

    assert "Only moderators with **Manage Server**" in refused
    assert done == "Done: approved."
    shown = await wait_title(world, status, "Done")
    assert f"Approved by <@{world.discord.moderator.id}>" in shown
    clip = await world.discord.wait_for(lambda: replies_to(world, status), timeout=20)
    assert clip[0].file_names[0].endswith(".mp4")
    assert world.create_calls() == 1


async def test_denied_request_says_declined_and_refunds_the_credits(world: World) -> None:
    await world.start_bot()
    status, approval = await held_request(world)
    assert "You have **40** of 50 credits left today" in await quota_reply(world)  # 5 s in pro: 10 credits held

    done = await press(world, approval, "Deny", world.discord.moderator)

    assert done == "Done: declined."
    shown = await wait_title(world, status, "Declined")
    assert f"Declined by <@{world.discord.moderator.id}>" in shown
    assert "credits were refunded" in shown
    assert "You have **50** of 50 credits left today" in await quota_reply(world)
    assert world.create_calls() == 0


async def test_approve_button_works_after_a_restart(world: World) -> None:
    await world.start_bot()
    status, approval = await held_request(world)
    assert world.bot is not None
    await world.bot.stop()
    await world.start_bot()

    done = await press(world, approval, "Approve", world.discord.moderator)

    assert done == "Done: approved."
    clip = await world.discord.wait_for(lambda: replies_to(world, status), timeout=20)
    assert clip[0].file_names[0].endswith(".mp4")


# ---- spend alerts and reports ------------------------------------------------------------------------------------


async def test_spend_alerts_reach_the_moderator_channel_once_each(world: World) -> None:
    await world.start_bot()
    await admin(world, "approvals", channel=world.discord.mod_channel)
    await admin(world, "limits", max_in_flight=0)
    await admin(world, "budget", daily=20)

    for duration in (10, 6, 4):  # 50 %, then 80 %, then 100 % of 20 credits
        assert "on its way" in await generate(world, duration=duration)
    over = await generate(world, duration=3)

    assert "The server's video budget for today is used up" in over
    alerts = [m.content for m in world.channel_messages(world.discord.mod_channel.id)]
    percents = [match[1] for alert in alerts if (match := re.search(r"\*\*(\d+)%\*\*", alert))]
    assert percents == ["50", "80", "100"]
    assert len(alerts) == 3
    assert "New requests are refused" in alerts[-1]


async def test_usage_lists_spenders_per_member_and_day_with_a_chart(world: World) -> None:
    await world.start_bot()
    assert "on its way" in await generate(world, duration=7)

    interaction = await world.slash("usage", name=ADMIN, user=world.discord.moderator, options={"period": 7})
    reply = await world.ephemeral_reply(interaction)

    assert "**7 credits** in 1 render." in reply
    assert f"<@{world.discord.alice.id}>: 7 credits (1 render)" in reply
    original = world.discord.original(interaction)
    assert original is not None and [a.filename for a in original.attachments] == ["usage.png"]


async def test_channel_default_thread_per_request_opens_a_thread_on_the_status_message(world: World) -> None:
    await world.start_bot()
    await admin(world, "defaults", thread_per_request=True)

    await generate(world, prompt="a *storm* over the harbour")

    status = await world.discord.wait_message(lambda m: is_card(m) and m.reply_to is None, timeout=10)
    (thread,) = await world.discord.wait_for(lambda: world.discord.threads(world.discord.channel_id), timeout=10)
    assert thread.name == "a storm over the harbour"
    assert thread.id == status.id  # a thread started from a message takes the message's id, as on Discord


# ---- models ------------------------------------------------------------------------------------------------------


async def test_a_model_turned_off_is_refused_naming_why_and_never_reaches_the_api(world: World) -> None:
    await world.start_bot()

    turned_off = await admin(world, "models", disable="veo-3.1")
    refused = await generate(world, model="veo-3.1")

    assert "• Models turned off: none → **`veo-3.1`**" in turned_off
    assert "• Veo 3.1 (`veo-3.1`): **off**" in turned_off
    assert "Veo 3.1 (`veo-3.1`) can't be used right now: it is turned off in this server." in refused
    assert world.create_calls() == 0
    assert status_messages(world) == []
    assert "You have **50** of 50 credits left today" in await quota_reply(world)
    audit = await admin(world, "audit")
    assert f"<@{world.discord.moderator.id}> changed the server's models: Models turned off none → `veo-3.1`" in audit


async def test_the_server_default_model_renders_when_a_member_picks_none(world: World) -> None:
    await world.start_bot()

    reply = await admin(world, "models", default="seedance-2.0")
    accepted = await generate(world)

    assert "• Server default model: the bot's default → **`seedance-2.0`**" in reply
    assert "• Seedance 2.0 (`seedance-2.0`): on · ⭐ **default**" in reply
    assert "on its way" in accepted
    assert (await created_body(world))["model"] == "seedance-2.0"


async def test_the_server_default_model_cant_be_turned_off(world: World) -> None:
    await world.start_bot()
    await admin(world, "models", default="seedance-2.0")

    refused = await admin(world, "models", disable="seedance-2.0")

    assert refused.startswith(
        "Seedance 2.0 (`seedance-2.0`) is this server's default model, so it can't be turned off."
    )
    assert "• Seedance 2.0 (`seedance-2.0`): on · ⭐ **default**" in await admin(world, "models")


async def test_a_model_the_bot_does_not_offer_gets_a_friendly_refusal(world: World) -> None:
    await world.start_bot()

    refused = await admin(world, "models", enable="sora-9")

    assert refused.startswith("`enable`: `sora-9` is not a model this bot offers. Pick one of `kling-v3`,")
    assert await admin(world, "audit") == "No changes recorded yet."


async def test_channel_default_model_and_sound_apply_to_members_requests(world: World) -> None:
    await world.start_bot()

    set_reply = await admin(world, "defaults", model="veo-3.1", sound=False)
    shown = await admin(world, "defaults")
    accepted = await generate(world)

    channel = world.discord.channel_id
    assert set_reply.startswith(f"<#{channel}>: Updated (written to the audit log):")
    assert "• Default model: server default → **`veo-3.1`**" in set_reply
    assert "• Default sound: the model's own → **no**" in set_reply
    assert "• Default model: `veo-3.1`" in shown
    assert "• Default sound: no" in shown
    assert "on its way" in accepted
    body = await created_body(world)
    assert body["model"] == "veo-3.1"
    assert body["metadata"]["generateAudio"] is False


async def test_members_without_manage_server_cant_change_models_or_channel_defaults(world: World) -> None:
    await world.start_bot()

    for subcommand, options in (("models", {"disable": "veo-3.1"}), ("defaults", {"model": "veo-3.1"})):
        refusal = await crafted_admin(world, subcommand, **options)
        assert "Only members with the **Manage Server** permission can use `/videoadmin`" in refusal

    assert await admin(world, "audit") == "No changes recorded yet."
    assert "on its way" in await generate(world, model="veo-3.1")
    assert (await created_body(world))["model"] == "veo-3.1"
