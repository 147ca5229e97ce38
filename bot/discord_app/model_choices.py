"""The `model` options' choices: the model table's enabled entries, filled in once the table is loaded.

discord.py reads choices from a parameter's annotation when the module is imported, before the table exists, and
its public `Parameter` is read-only; so the command's own parameter record is given them here, before any sync.
They are part of the command's definition: a change to the table is what triggers the next sync.
"""

from __future__ import annotations

from typing import Any

from discord import app_commands

from bot.domain.models import ModelTable

MAX_CHOICES = 25  # Discord's limit per option


def model_choices(models: ModelTable) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=f"{spec.name} ({spec.key})"[:100], value=spec.key) for spec in models.enabled()]


def offer_choices(command: app_commands.Command[Any, ..., Any], option: str, choices: list[Any]) -> None:
    if len(choices) > MAX_CHOICES:
        # The table's loader refuses more enabled models than fit; this is a programming error.
        raise ValueError(f"{len(choices)} choices for {command.name} {option}; Discord takes {MAX_CHOICES}")
    command._params[option].choices = choices
