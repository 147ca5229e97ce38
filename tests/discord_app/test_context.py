"""The Discord layer reaches the running bot only through its context: no module but the bot's own imports the bot
class (which imports them all), and a client the bot did not set up says so plainly."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import discord
import pytest

import bot.discord_app
from bot.discord_app.context import AppContext, ContextMissing, Services, attach_context, client_context, context_of

PACKAGE = Path(bot.discord_app.__file__).parent
CLIENT_MODULE = "bot.discord_app.client"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(module: str, source: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the text of `module`) imports, at any level (TYPE_CHECKING blocks included), relative
    imports resolved; `from a import b` counts as importing both `a` and `a.b`, since `b` may be a module."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def imports_of(path: Path) -> set[str]:
    return imported_modules(module_name(path), path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")


def test_no_module_of_the_discord_layer_but_the_bot_imports_the_bot_class() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    importers = [
        module_name(path)
        for path in sources
        if module_name(path) != CLIENT_MODULE and CLIENT_MODULE in imports_of(path)
    ]

    assert importers == []
    # The scan saw the modules that used to reach the bot class (flows, the cogs, the views), and reads their
    # imports: the bot's own module is found importing the ones it loads.
    scanned = {module_name(path) for path in sources}
    assert {"bot.discord_app.flows", "bot.discord_app.cogs.video", "bot.discord_app.ui.views"} <= scanned
    assert "bot.discord_app.ui.views" in imports_of(PACKAGE / "client.py")


@pytest.mark.parametrize(
    "source",
    [
        "import bot.discord_app.client",
        "from bot.discord_app.client import VideoBot",
        "from bot.discord_app import client",
        "from .. import client",
        "from ..client import VideoBot",
        "if TYPE_CHECKING:\n    from ..client import VideoBot",
    ],
)
def test_every_way_of_importing_the_bot_module_is_seen(source: str) -> None:
    assert CLIENT_MODULE in imported_modules("bot.discord_app.ui.views", source)


def test_importing_the_context_is_not_importing_the_bot_module() -> None:
    source = "from ..context import context_of\nfrom bot.discord_app import flows"
    assert CLIENT_MODULE not in imported_modules("bot.discord_app.ui.views", source)


def test_context_of_an_interaction_on_a_client_the_bot_did_not_set_up_fails_clearly() -> None:
    client = discord.Client(intents=discord.Intents.none())
    interaction = cast(discord.Interaction, SimpleNamespace(client=client))

    with pytest.raises(
        ContextMissing, match=r"^Client carries no AppContext: the bot sets one with attach_context\(\)"
    ):
        context_of(interaction)


def test_context_of_gives_the_context_the_bot_attached_to_its_client() -> None:
    client = discord.Client(intents=discord.Intents.none())
    context = AppContext(cast(Services, SimpleNamespace()))
    attach_context(client, context)

    assert context_of(cast(discord.Interaction, SimpleNamespace(client=client))) is context
    assert client_context(client) is context
