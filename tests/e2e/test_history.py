"""`/video history` and `/video show` end to end: finding renders again, paging across a restart, cards brought back.

The real bot runs as a separate process against the fake Discord and the fake ModelStream (see conftest).
"""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

from sqlalchemy import select

from bot.storage.tables import renders
from tests.e2e.conftest import World
from tests.e2e.test_generate import button, components_of
from tests.fakes.discord import FakeInteraction, FakeMessage, Perm

LINK = re.compile(r"\(https://discord\.com/channels/(\d+)/(\d+)/(\d+)\)")
UNLIMITED = {"DEFAULT_DAILY_CREDITS": "unlimited", "MAX_IN_FLIGHT_PER_MEMBER": "unlimited"}


async def shown(world: World, interaction: FakeInteraction) -> FakeMessage:
    """The (ephemeral) reply once it is no longer "thinking"."""

    def done() -> FakeMessage | None:
        message = world.discord.original(interaction)
        return message if message is not None and not message.loading else None

    return await world.discord.wait_for(done, timeout=10)


def embed_of(message: FakeMessage) -> dict[str, Any]:
    assert message.embeds, message.content
    return message.embeds[0]


def description(message: FakeMessage) -> str:
    return str(embed_of(message).get("description", ""))


def disabled(message: FakeMessage, label: str) -> bool:
    return bool(next(b for b in components_of(message.components, 2) if b.get("label") == label).get("disabled"))


async def delivered(world: World, count: int) -> None:
    """Wait until `count` renders are delivered and their cards final."""
    query = "SELECT count(*) FROM renders WHERE state = 'delivered' AND closed = :yes"
    async with asyncio.timeout(60):
        # The database records no Discord event to wait on: poll it, as conftest's `eventually` polls the fake API.
        while int((await world.rows(query, yes=True))[0][0]) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_history_pages_link_to_clips_survive_a_restart_and_show_brings_a_card_back(world: World) -> None:
    fake = world.discord
    away = fake.add_guild("Another Guild", members=[fake.alice])
    secret = fake.add_channel("secret")
    fake.set_overwrite(secret, fake.alice, deny=Perm.VIEW_CHANNEL)
    bot = await world.start_bot(**UNLIMITED)

    # Twelve renders of alice's here (three requests of four takes), one of bob's in a channel alice can't see,
    # one of alice's in another server.
    for n in range(3):
        asked = await world.slash("generate", options={"prompt": f"shot {n} **bold** @everyone", "takes": 4})
        assert "on its way" in await world.ephemeral_reply(asked, timeout=20)
    hidden = await world.slash("generate", options={"prompt": "bob's secret"}, channel_id=secret.id, user=fake.bob)
    elsewhere = await world.slash("generate", options={"prompt": "away"}, channel_id=next(iter(away.channels)))
    for asked in (hidden, elsewhere):
        assert "on its way" in await world.ephemeral_reply(asked, timeout=20)
    await delivered(world, 14)

    listing = await world.slash("history")

    page = await shown(world, listing)
    assert page.ephemeral
    assert "page 1" in str(embed_of(page)["title"])
    text = description(page)
    entries = text.split("\n\n")[1:]
    assert len(entries) == 10
    assert [e.split("”")[0].split("“")[1][:6] for e in entries] == ["shot 2"] * 4 + ["shot 1"] * 4 + ["shot 0"] * 2
    assert "@everyone" not in text and "**bold**" not in text
    assert "secret" not in text and "away" not in text
    for guild_id, channel_id, message_id in LINK.findall(text):
        clip = fake.message(int(message_id))
        assert clip is not None and int(channel_id) == clip.channel_id and int(guild_id) == fake.guild_id
        assert clip.file_names and clip.file_names[0].endswith(".mp4") and clip.reply_to is not None
    assert len(LINK.findall(text)) == 10
    assert disabled(page, "Previous") and not disabled(page, "Next")

    pressed = await fake.send_component(button(page, "Next"), page.id)

    await fake.wait_for(lambda: "page 2" in str(embed_of(page)["title"]), timeout=10)
    second = description(page).split("\n\n")[1:]
    assert [e.split("“")[1][:6] for e in second] == ["shot 0"] * 2
    assert not disabled(page, "Previous") and disabled(page, "Next")
    assert fake.callbacks(pressed)[0].type == 6  # acknowledged in time, then the page edited in place

    bot.kill(signal.SIGKILL)
    await world.start_bot(**UNLIMITED)
    await fake.send_component(button(page, "Previous"), page.id)

    await fake.wait_for(lambda: "page 1" in str(embed_of(page)["title"]), timeout=10)
    assert description(page) == text

    query = select(renders.c.id, renders.c.result_message_id).where(
        renders.c.guild_id == fake.guild_id, renders.c.user_id == fake.alice.id
    )
    render_id, clip_id = (await world.rows(query))[0]
    show = await world.slash("show", options={"id": render_id[:8]})

    card = await shown(world, show)
    assert card.ephemeral
    assert embed_of(card)["footer"]["text"] == f"Request {render_id[:8]}"
    assert [b.get("label") for b in components_of(card.components, 2)] == ["Regenerate", "Remix", "Continue", "Delete"]
    assert card.content.endswith(f"/{fake.guild_id}/{fake.channel_id}/{clip_id}")

    (theirs,) = await world.rows(select(renders.c.id).where(renders.c.guild_id == away.id))
    refused = await world.slash("show", options={"id": str(theirs[0])[:8]})

    assert f"I can't find a request `{str(theirs[0])[:8]}` in this server" in await world.ephemeral_reply(refused)
    assert "Traceback" not in world.output()
