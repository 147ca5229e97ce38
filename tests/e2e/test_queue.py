"""The bot's own queue end to end: MAX_RENDERS_AT_API=2 and a burst of requests from several members. Members see
their place in line, the renders start in a fair order (one member's four takes don't go before everybody else),
a waiting request can be cancelled by its requester (refunded, never sent), and nothing passes the cap.

The real bot runs as a separate process against the fake Discord and the fake ModelStream (see conftest); the fake
gateway enforces a concurrency gate of 2 as a key would, so a render past the cap would be refused and counted.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import World, embed_text, eventually, status_messages, wait_title
from tests.fakes.discord import FakeMessage, FakeUser

# Long enough (about 20 status calls at 0.2 s) that every request of the burst is in before the first two finish.
RENDER_POLLS = 20


def buttons(message: FakeMessage) -> dict[str, str]:
    """The message's buttons, label -> custom_id."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == 2 and "custom_id" in node:
                found[str(node.get("label"))] = str(node["custom_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.components)
    return found


def card_of(world: World, prompt: str) -> FakeMessage | None:
    return next((m for m in status_messages(world) if prompt in embed_text(m)), None)


def who_started(world: World) -> list[str]:
    """The prompts of the renders the gateway took, in the order it took them."""
    return [str(task.request["prompt"]) for task in world.api.tasks.values()]


async def test_a_burst_waits_in_a_fair_line_shows_places_and_can_be_cancelled(world: World) -> None:
    world.api.configure(render_polls=RENDER_POLLS)
    world.api.concurrency_limit = 2
    await world.start_bot(MAX_RENDERS_AT_API="2", MAX_IN_FLIGHT_PER_MEMBER="unlimited")
    discord = world.discord
    members: dict[str, FakeUser] = {
        "bob": discord.bob,
        "carol": discord.add_user("carol"),
        "dave": discord.add_user("dave"),
        "erin": discord.add_user("erin"),
    }

    # Alice asks first, for four takes; then four members ask for one each.
    first = await world.slash("generate", options={"prompt": "alice's lighthouse", "takes": 4})
    assert "on its way" in await world.ephemeral_reply(first)
    for name, user in members.items():
        asked = await world.slash("generate", options={"prompt": f"{name}'s lighthouse"}, user=user)
        assert "on its way" in await world.ephemeral_reply(asked)

    # Dave's request waits: its card shows its place in line and a Cancel button.
    dave_card = await discord.wait_for(lambda: card_of(world, "dave's lighthouse"), timeout=10)
    await discord.wait_for(lambda: "in line" in embed_text(dave_card), timeout=15)
    assert "Cancel" in buttons(dave_card)

    # Bob may not cancel Dave's request; Dave may.
    refused = await discord.send_component(buttons(dave_card)["Cancel"], dave_card.id, user=members["bob"])
    assert "Only the member who asked for this video" in await world.ephemeral_reply(refused)
    pressed = await discord.send_component(buttons(dave_card)["Cancel"], dave_card.id, user=members["dave"])
    assert "5 credits were refunded" in await world.ephemeral_reply(pressed)
    shown = await wait_title(world, dave_card, "Cancelled")
    assert f"Cancelled by <@{members['dave'].id}>" in shown
    assert "Cancel" not in buttons(dave_card)

    # Alice's last takes are still waiting: /video quota lists them with their places.
    quota = await world.slash("quota")
    assert "Waiting in the bot's queue:" in await world.ephemeral_reply(quota)

    # Everything else is delivered, two at a time at most, every single request before Alice's last take.
    await eventually(lambda: len(world.api.tasks) == 7, timeout=90)
    for card in status_messages(world):
        if "dave's" not in embed_text(card):
            done = await wait_title(world, card, "Done", timeout=60)
            assert "in line" not in done
            assert "Cancel" not in buttons(card)
    started = who_started(world)
    assert "dave's lighthouse" not in started
    assert started[-1] == "alice's lighthouse"
    assert sorted(started[:6]).count("alice's lighthouse") == 3
    assert world.api.concurrency_refusals == 0
