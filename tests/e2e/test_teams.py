"""Teams: takes shown together and `/video compare`, end to end. One status card per request (Components V2),
one result message holding every clip in a media gallery, each labelled and with its own buttons, which keep
working after a restart."""

from __future__ import annotations

import re
import signal

from tests.e2e.conftest import (
    World,
    card_title,
    embed_text,
    eventually,
    image_bytes,
    replies_to,
    shown_text,
    status_messages,
    wait_title,
)
from tests.e2e.test_generate import components_of
from tests.fakes.discord import AttachmentSpec, FakeMessage
from tests.fakes.video_api import TaskScript

# Room for every take and model of a request at once (the default lets a member have two renders in flight).
ROOMY = {"MAX_IN_FLIGHT_PER_MEMBER": "6"}


async def the_card(world: World) -> FakeMessage:
    await world.discord.wait_for(lambda: status_messages(world), timeout=10)
    return status_messages(world)[0]


async def result_of(world: World, card: FakeMessage, files: int, timeout: float = 30.0) -> FakeMessage:  # noqa: ASYNC109
    """The card's result message, once it holds `files` clips."""

    def ready() -> FakeMessage | None:
        replies = replies_to(world, card)
        return replies[0] if replies and len(replies[0].attachments) >= files else None

    return await world.discord.wait_for(ready, timeout=timeout)


def buttons_of(message: FakeMessage) -> list[tuple[str, str]]:
    return [(str(b.get("label")), str(b["custom_id"])) for b in components_of(message.components, 2)]


async def test_three_takes_show_one_card_and_one_gallery_with_three_labelled_clips(world: World) -> None:
    world.api.configure(render_polls=2)
    await world.start_bot(**ROOMY)

    asked = await world.slash("generate", options={"prompt": "a koi pond at dawn", "model": "wan-2.6", "takes": 3})

    assert "Cost:" in await world.ephemeral_reply(asked)
    card = await the_card(world)
    shown = await wait_title(world, card, "Done", timeout=40)
    result = await result_of(world, card, files=3)
    assert len(status_messages(world)) == 1  # one card for the three takes
    assert replies_to(world, card) == [result]  # one result message
    assert "3 takes" in card_title(card)
    seeds = seeds_of(shown)
    assert len(set(seeds)) == 3  # each take its own seed, each sent to the model
    assert all(any(str(seed) in str(call.json) for call in world.api.create_calls) for seed in seeds)
    assert result.is_components_v2
    assert [label for _, label in result.gallery] == [f"Take {n} · seed {seed}" for n, seed in enumerate(seeds, 1)]
    assert sorted(name for name, _ in result.gallery) == sorted(result.file_names)
    # Each take's own buttons: Regenerate, Remix, Continue and Delete of its own render.
    presses = buttons_of(result)
    for action in ("regen", "remix", "continue", "delete"):
        assert len({cid for _, cid in presses if cid.startswith(f"video:{action}:")}) == 3
    # The requester was mentioned once, when the message was posted; the edits adding clips pinged nobody.
    assert world.discord.pings(result).users == {world.discord.alice.id}
    assert f"<@{world.discord.alice.id}>" in shown_text(result)


def seeds_of(card_text: str) -> list[int]:
    """The seeds the card shows, take by take."""
    return [int(seed) for seed in re.findall(r"\*\*Take \d\*\* · seed (\d+)", card_text)]


async def test_a_failed_take_is_refunded_and_shown_failed_in_the_same_message(world: World) -> None:
    world.api.script_next(
        TaskScript(render_polls=1),
        TaskScript(render_polls=1, outcome="failure", failure_reason="the prompt was flagged"),
        TaskScript(render_polls=4),
    )
    await world.start_bot(**ROOMY)

    await world.slash("generate", options={"prompt": "a koi pond at dusk", "model": "wan-2.6", "takes": 3})

    card = await the_card(world)
    shown = await wait_title(world, card, "Done", timeout=40)
    result = await result_of(world, card, files=2)
    await world.discord.wait_for(lambda: "flagged" in shown_text(result), timeout=20)
    assert "1 of 3 failed" in card_title(card)
    assert len(result.gallery) == 2
    failed_line = next(line for line in result.texts if "flagged" in line)
    assert "failed" in failed_line and "credits refunded" in failed_line
    assert "credits refunded" in shown
    # Its refund is real: the member's spend is the two delivered takes.
    rows = await world.rows("SELECT state, cost FROM renders ORDER BY take_index")
    assert [state for state, _ in rows].count("failed") == 1
    regenerate = [cid for label, cid in buttons_of(result) if label == "Regenerate"]
    assert len(regenerate) == 3  # two clips' own, and the failed take's


async def test_compare_on_two_models_total_first_then_one_gallery_labelled_by_model(world: World) -> None:
    await world.start_bot(**ROOMY)

    asked = await world.slash(
        "compare",
        options={"prompt": "a red kite over hills", "model_a": "kling-v3", "model_b": "wan-2.6", "duration": 5},
    )

    reply = await world.ephemeral_reply(asked)
    total = re.search(r"Cost: \*\*(\d+) credits\*\* in all \(Kling 3\.0: (\d+), Wan 2\.6: (\d+)\)", reply)
    assert total is not None, reply
    assert int(total[1]) == int(total[2]) + int(total[3])
    card = await the_card(world)
    shown = await wait_title(world, card, "Done", timeout=40)
    assert "2 models compared" in shown
    result = await result_of(world, card, files=2)
    assert world.create_calls() == 2  # one render per model
    descriptions = sorted(description for _, description in result.gallery)
    assert descriptions[0].startswith(f"Kling 3.0 · {total[2]} credits")
    assert descriptions[1].startswith(f"Wan 2.6 · {total[3]} credits")
    text = shown_text(result)
    assert re.search(rf"\*\*Kling 3\.0\*\* · {total[2]} credits .*rendered in \d+ min \d+ s", text)
    assert re.search(rf"\*\*Wan 2\.6\*\* · {total[3]} credits .*rendered in \d+ min \d+ s", text)
    assert "your comparison of 2 models" in text


async def test_compare_refuses_as_a_whole_naming_the_model_that_cannot_take_it(world: World) -> None:
    await world.start_bot(**ROOMY)

    asked = await world.slash(
        "compare", options={"prompt": "a red kite", "model_a": "kling-v3", "model_b": "veo-3.1", "duration": 10}
    )

    reply = await world.ephemeral_reply(asked)
    assert reply.startswith("`model_b` (Veo 3.1")
    assert world.create_calls() == 0
    assert await world.rows("SELECT id FROM renders") == []


async def test_each_takes_buttons_work_after_a_restart(world: World) -> None:
    bot = await world.start_bot(**ROOMY)
    await world.slash("generate", options={"prompt": "a paper lantern", "model": "wan-2.6", "takes": 2})
    card = await the_card(world)
    await wait_title(world, card, "Done", timeout=40)
    result = await result_of(world, card, files=2)
    bot.kill(signal.SIGKILL)
    await world.start_bot(**ROOMY)
    first, second = [str(render_id) for (render_id,) in await world.rows("SELECT id FROM renders ORDER BY take_index")]
    kept = next(name for name in result.file_names if second[:8] in name)

    deleted = await world.discord.send_component(f"video:delete:{first}", result.id)
    assert "Deleted" in await world.ephemeral_reply(deleted)
    await world.discord.wait_for(lambda: len(result.attachments) == 1, timeout=10)
    again = await world.discord.send_component(f"video:regen:{second}", result.id, user=world.discord.bob)
    assert "on its way" in await world.ephemeral_reply(again)

    assert result.file_names == [kept]
    assert [name for name, _ in result.gallery] == [kept]
    assert "Take 1" not in shown_text(result)
    await world.discord.wait_for(lambda: len(status_messages(world)) == 2, timeout=10)
    regenerated = status_messages(world)[1]
    await wait_title(world, regenerated, "Done", timeout=40)
    assert "takes" not in card_title(regenerated)  # Regenerate of a take renders that one take again
    assert f"<@{world.discord.bob.id}>" in embed_text(regenerated)


async def test_the_card_of_an_image_request_shows_its_first_frame(world: World) -> None:
    await world.start_bot(**ROOMY)

    await world.slash(
        "generate",
        options={"prompt": "the scene comes alive", "model": "kling-v3"},
        attachments={"first_frame": AttachmentSpec("frame.png", image_bytes(640, 360), "image/png")},
    )

    card = await the_card(world)
    (thumbnail,) = components_of(card.components, 11)
    assert card.file_names == ["first-frame.png"]
    assert thumbnail["media"]["url"] == "attachment://first-frame.png"
    await wait_title(world, card, "Done", timeout=40)
    assert card.file_names == ["first-frame.png"]  # kept through every edit


async def test_takes_delivered_by_two_processes_at_once_share_one_result_message(world: World) -> None:
    fake = world.discord
    fake.shard_count = 2
    world.api.configure(outcome="stuck")
    env = {
        "MAX_IN_FLIGHT_PER_MEMBER": "unlimited",
        "DEFAULT_DAILY_CREDITS": "unlimited",
        # A small status-call cap, shared by the processes: each claims a couple of renders at a time, so the takes
        # of one request are polled (and then delivered) by both.
        "MAX_STATUS_CALLS_PER_SECOND": "4",
    }
    bots = [await world.start_shard(shard, 2, **env) for shard in range(2)]
    requests = 3
    for n in range(requests):
        asked = await world.slash("generate", options={"prompt": f"a lantern festival, shot {n}", "takes": 4})
        assert "on its way" in await world.ephemeral_reply(asked, timeout=20)
    await world.discord.wait_for(lambda: len(status_messages(world)) == requests, timeout=20)
    await eventually(lambda: len(world.api.tasks) == 4 * requests, timeout=30)
    for task_id in world.api.tasks:  # every take done at the same moment
        world.api.set_script(task_id, outcome="success", render_polls=0)

    cards = status_messages(world)
    results = [await result_of(world, card, files=4, timeout=60) for card in cards]
    for bot in bots:
        await bot.stop()  # lets any step in progress finish: a clip added twice would be there by now

    assert len(fake.messages()) == 2 * requests  # a card and one result message per request, nothing else
    for card, result in zip(cards, results, strict=True):
        assert replies_to(world, card) == [result]
        assert len(set(result.file_names)) == len(result.file_names) == 4
        assert sorted(name for name, _ in result.gallery) == sorted(result.file_names)
        assert [label.split(" · ")[0] for _, label in result.gallery] == [f"Take {n}" for n in range(1, 5)]
    assert len(fake.uploads) == 4 * requests
    # Both processes delivered takes: the result messages were shared across processes, not only within one.
    delivered_by = {
        render_id: index
        for index, bot in enumerate(bots)
        for render_id in re.findall(r"render ([0-9a-f]{32}) delivered", bot.output())
    }
    groups = await world.rows("SELECT id, group_id FROM renders")
    shared = {group for group in {g for _, g in groups} if len({delivered_by[r] for r, g in groups if g == group}) > 1}
    assert len(delivered_by) == 4 * requests
    assert shared, "no request had its takes delivered by both processes"
