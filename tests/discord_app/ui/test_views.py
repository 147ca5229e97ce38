"""The persistent buttons answer Discord in time and only about renders of the guild they are pressed in."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.discord_app.ui import text, views
from tests.discord_app.fake_interaction import GUILD, OTHER_GUILD, FakeInteraction

RENDER_ID = "0123456789abcdef0123456789abcdef"


def stored(guild_id: int = GUILD, prompt: str = "a paper boat on a river") -> SimpleNamespace:
    return SimpleNamespace(id=RENDER_ID, guild_id=guild_id, user_id=1, request=SimpleNamespace(prompt=prompt))


def modal_prompt(interaction: FakeInteraction) -> str | None:
    modal = interaction.response.modal
    assert isinstance(modal, views.RemixModal)
    return modal.prompt.default


async def test_delete_defers_before_reading_the_render() -> None:
    interaction = FakeInteraction()

    await views.DeleteButton(RENDER_ID).callback(interaction.as_discord())

    assert interaction.recorder.events == ["defer", "get", f"shown: {text.RENDER_UNKNOWN}"]


async def test_remix_opens_an_empty_modal_when_the_render_lookup_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "REMIX_LOOKUP_SECONDS", 0.01)
    interaction = FakeInteraction({RENDER_ID: stored()}, stall=True)

    async with asyncio.timeout(5):  # a lookup without a bound would wait for ever
        await views.RemixButton(RENDER_ID).callback(interaction.as_discord())

    assert interaction.recorder.events == ["get", "modal"]
    assert modal_prompt(interaction) is None


async def test_remix_prefills_the_prompt_of_a_render_of_this_guild() -> None:
    interaction = FakeInteraction({RENDER_ID: stored()})

    await views.RemixButton(RENDER_ID).callback(interaction.as_discord())

    assert modal_prompt(interaction) == "a paper boat on a river"


async def test_remix_of_another_guilds_render_does_not_show_its_prompt() -> None:
    interaction = FakeInteraction({RENDER_ID: stored(OTHER_GUILD, "a secret plan")})

    await views.RemixButton(RENDER_ID).callback(interaction.as_discord())

    assert modal_prompt(interaction) is None


async def test_remix_submitted_for_another_guilds_render_is_refused() -> None:
    interaction = FakeInteraction({RENDER_ID: stored(OTHER_GUILD)})
    modal = views.RemixModal(RENDER_ID, None)

    await modal.on_submit(interaction.as_discord())

    assert interaction.recorder.shown == [text.RENDER_UNKNOWN]
