"""A burst in one channel under Discord's edit limit: twenty renders finishing together are all delivered, their
cards all end final, and Discord's limit is waited out, not run into.

The fake Discord enforces a per-channel edit limit and sends Discord's rate-limit headers; the real bot runs as a
separate process (see conftest). The window is shorter than Discord's 5 s so the test stays quick: the bot reads
the limit from the headers, whatever it is.
"""

from __future__ import annotations

from tests.e2e.conftest import World, card_title, replies_to, status_messages
from tests.fakes.discord import MESSAGE_ROUTE, FakeMessage

TAKES = 4
REQUESTS = 5  # 20 renders in one channel
EDITS, WINDOW = 5, 0.5
DONE = "✅ Done"
RENDERING = "🎬 Rendering"


def title(card: FakeMessage) -> str:
    return card_title(card)


async def test_twenty_renders_finishing_together_are_delivered_with_final_cards_and_no_429(world: World) -> None:
    discord = world.discord
    discord.edit_limit(per=EDITS, seconds=WINDOW)
    world.api.configure(outcome="stuck", video_size=120_000)
    await world.start_bot(
        DEFAULT_DAILY_CREDITS="unlimited",
        MAX_IN_FLIGHT_PER_MEMBER="unlimited",
        # Every render polled each second: the status-call cap must not be what keeps the clips waiting here.
        POLL_INTERVAL_SECONDS="1",
        MAX_STATUS_CALLS_PER_SECOND="50",
    )
    for n in range(REQUESTS):
        await world.slash("generate", options={"prompt": f"burst shot {n}", "takes": TAKES})
    # One card per request, showing its four takes.
    await discord.wait_for(
        lambda: len(cards := status_messages(world)) == REQUESTS and all(title(c).startswith(RENDERING) for c in cards),
        timeout=60,
    )

    for task_id in world.api.tasks:  # every render done at the same moment
        world.api.set_script(task_id, outcome="success", render_polls=0)

    def all_in(card: FakeMessage) -> bool:
        replies = replies_to(world, card)
        return title(card).startswith(DONE) and bool(replies) and len(replies[0].attachments) == TAKES

    await discord.wait_for(lambda: all(all_in(c) for c in status_messages(world)), timeout=60)
    cards = status_messages(world)
    clips = {card.id: replies_to(world, card) for card in cards}
    assert len(cards) == REQUESTS
    # One result message per request, holding its four clips, each once.
    assert all(len(replies) == 1 and len(set(replies[0].file_names)) == TAKES for replies in clips.values())
    # The member is pinged by the clip, which did not wait for the card to say "Done".
    for card in cards:
        assert card.edited_at is not None and clips[card.id][0].created_at < card.edited_at
    assert discord.count_429(MESSAGE_ROUTE, "PATCH") == 0
    assert discord.count_429() == 0
    assert len(discord.messages()) == 2 * REQUESTS  # nothing posted twice
