"""Every modal the bot opens, as Discord receives it: each field inside a Label (type 18) with a description line,
none on TextInput's deprecated label, within Discord's lengths."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import discord
import pytest

import bot.discord_app
from bot.discord_app.ui import text
from bot.discord_app.ui.storyboard import StoryboardDraft, StoryboardModal
from bot.discord_app.ui.views import ContinueModal, RemixModal
from bot.domain.request import RawOptions
from bot.domain.storyboard import MAX_SHOTS

LABEL, TEXT_INPUT = 18, 4
LABEL_MAX, DESCRIPTION_MAX, PLACEHOLDER_MAX, FIELDS_MAX = 45, 100, 100, 5

BUILDERS: dict[type[discord.ui.Modal], Callable[[], discord.ui.Modal]] = {
    StoryboardModal: lambda: StoryboardModal(StoryboardDraft(1, RawOptions(prompt="a lighthouse", multi_shot=True))),
    RemixModal: lambda: RemixModal("0123456789abcdef0123456789abcdef", "a paper boat on a river"),
    ContinueModal: lambda: ContinueModal("0123456789abcdef0123456789abcdef", 5),
}


def bot_modals() -> set[type[discord.ui.Modal]]:
    """Every Modal subclass defined in bot.discord_app (all its modules imported first)."""
    for module in pkgutil.walk_packages(bot.discord_app.__path__, "bot.discord_app."):
        importlib.import_module(module.name)
    found: set[type[discord.ui.Modal]] = set()
    pending = list(discord.ui.Modal.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("bot."):
            found.add(cls)
    return found


def payload(modal: discord.ui.Modal) -> dict[str, Any]:
    return modal.to_dict()


def test_every_modal_of_the_bot_is_checked_here() -> None:
    assert bot_modals() == set(BUILDERS)


@pytest.mark.parametrize("build", BUILDERS.values(), ids=[cls.__name__ for cls in BUILDERS])
async def test_each_field_sits_in_a_label_with_a_description(build: Callable[[], discord.ui.Modal]) -> None:
    components = payload(build())["components"]

    assert 1 <= len(components) <= FIELDS_MAX
    for component in components:
        assert component["type"] == LABEL
        assert 0 < len(component["label"]) <= LABEL_MAX
        assert 0 < len(component.get("description", "")) <= DESCRIPTION_MAX
        field = component["component"]
        assert field["type"] == TEXT_INPUT
        assert field.get("label") is None  # the deprecated place for it
        assert len(field.get("placeholder") or "") <= PLACEHOLDER_MAX


async def test_the_storyboard_field_explains_the_format() -> None:
    (component,) = payload(BUILDERS[StoryboardModal]())["components"]

    assert component["label"] == text.STORYBOARD_LABEL
    assert "seconds | prompt" in component["description"]
    assert f"up to {MAX_SHOTS} shots" in component["description"]
    assert component["component"]["placeholder"].splitlines()[0].startswith("3 | ")


async def test_the_remix_field_keeps_the_prompt_to_edit() -> None:
    (component,) = payload(BUILDERS[RemixModal]())["components"]

    assert component["label"] == text.REMIX_LABEL
    assert component["component"]["value"] == "a paper boat on a river"


async def test_the_continue_fields_ask_the_next_shot_and_keep_the_clips_length() -> None:
    prompt, duration = payload(BUILDERS[ContinueModal]())["components"]

    assert prompt["label"] == text.CONTINUE_PROMPT_LABEL and prompt["component"]["required"] is True
    assert duration["label"] == text.CONTINUE_DURATION_LABEL
    assert (duration["component"]["value"], duration["component"]["required"]) == ("5", False)
