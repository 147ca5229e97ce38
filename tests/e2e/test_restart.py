"""Nothing accepted is lost: the bot is killed with SIGKILL mid-flight, started again, and every render still
reaches the channel exactly once (or fails safely, refunded, when it cannot know what the API received)."""

from __future__ import annotations

import signal

from tests.e2e.conftest import World, card_title, eventually, is_card, replies_to, status_messages, wait_title
from tests.fakes.bot_process import BotProcess
from tests.fakes.discord import FakeMessage


def title(message: FakeMessage) -> str:
    return card_title(message)


def clips(world: World, status: FakeMessage) -> list[FakeMessage]:
    return [m for m in replies_to(world, status) if m.attachments]


async def crash(bot: BotProcess) -> None:
    bot.kill(signal.SIGKILL)
    await bot.wait_exit(timeout=10)


async def test_every_render_in_flight_is_delivered_exactly_once_after_a_sigkill(world: World) -> None:
    world.api.configure(outcome="stuck")
    bot = await world.start_bot(MAX_IN_FLIGHT_PER_MEMBER="unlimited")
    for take in range(3):
        await world.slash("generate", options={"prompt": f"render number {take}"})
    await world.discord.wait_for(
        lambda: len(status_messages(world)) == 3 and all("Rendering" in title(m) for m in status_messages(world)),
        timeout=20,
    )

    await crash(bot)
    for task_id in world.api.tasks:
        world.api.set_script(task_id, outcome="success", render_polls=0)
    await world.start_bot()

    statuses = status_messages(world)
    for status in statuses:
        await wait_title(world, status, "Done", timeout=30)
    assert world.bot is not None
    await world.bot.stop()  # lets any step in progress finish: a duplicate would be posted by now
    assert len(statuses) == 3
    assert [len(clips(world, status)) for status in statuses] == [1, 1, 1]
    assert len([m for m in world.channel_messages() if m.attachments]) == 3
    assert world.create_calls() == 3


async def test_render_killed_while_its_create_call_was_in_flight_is_not_sent_twice(world: World) -> None:
    world.api.fail_next("create", "hang", seconds=5)
    bot = await world.start_bot()
    await world.slash("generate", options={"prompt": "an unlucky moment"})
    status = await world.discord.wait_message(lambda m: is_card(m))
    await eventually(world.create_calls, timeout=15)

    await crash(bot)
    await world.start_bot()

    shown = await wait_title(world, status, "Failed", timeout=20)
    assert "I restarted while sending this request" in shown
    assert "didn't send it twice" in shown
    assert "Your 5 credits were refunded." in shown
    assert world.create_calls() == 1


async def test_clip_posted_just_before_a_sigkill_is_not_posted_again(world: World) -> None:
    world.api.configure(outcome="stuck", video_size=20_000)
    bot = await world.start_bot()
    await world.slash("generate", options={"prompt": "the last second"})
    status = await world.discord.wait_message(lambda m: is_card(m))
    await wait_title(world, status, "Rendering")
    (task_id,) = world.api.tasks
    world.api.set_script(task_id, outcome="success", render_polls=0)

    # Killed the moment Discord has the clip: the bot has not yet read the answer, so it never recorded it.
    await world.discord.wait_for(lambda: clips(world, status), timeout=20)
    await crash(bot)
    await world.start_bot()

    shown = await wait_title(world, status, "Done", timeout=20)
    assert world.bot is not None
    await world.bot.stop()
    assert "The clip is in the reply below." in shown
    assert len(clips(world, status)) == 1
    assert len(world.discord.uploads) == 1  # adopted, not uploaded again
