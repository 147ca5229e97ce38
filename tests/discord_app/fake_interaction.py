"""A small stand-in for discord.Interaction: just what the button and modal handlers touch, recording what the
member would see (and in which order the handler answered and read the database)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import discord

from bot.discord_app.context import AppContext, Services, attach_context

GUILD = 1_000_000_000_000_000_001
OTHER_GUILD = 1_000_000_000_000_000_999
CHANNEL = 2_000_000_000_000_000_002
USER = 3_000_000_000_000_000_003


@dataclass
class Recorder:
    """Everything the handler did, in order: "defer", "get", "modal", and "shown: <text>" for what was said."""

    events: list[str] = field(default_factory=list)

    @property
    def shown(self) -> list[str]:
        return [e.removeprefix("shown: ") for e in self.events if e.startswith("shown: ")]


class FakeResponse:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self.type: discord.InteractionResponseType | None = None
        self.modal: discord.ui.Modal | None = None

    def is_done(self) -> bool:
        return self.type is not None

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        self._answer(discord.InteractionResponseType.deferred_channel_message)
        self._recorder.events.append("defer")

    async def send_message(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        self._answer(discord.InteractionResponseType.channel_message)
        self._recorder.events.append(f"shown: {content}")

    async def send_modal(self, modal: discord.ui.Modal) -> None:
        self._answer(discord.InteractionResponseType.modal)
        self.modal = modal
        self._recorder.events.append("modal")

    def _answer(self, kind: discord.InteractionResponseType) -> None:
        if self.type is not None:
            raise RuntimeError("interaction already answered")  # what discord.py raises, in spirit
        self.type = kind


class FakeFollowup:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def send(self, content: str, *, ephemeral: bool = False, **_: Any) -> None:
        self._recorder.events.append(f"shown: {content}")


class FakeRenders:
    """The renders repository: `get` answers from a dict, or never when `stall` is set (a database under load)."""

    def __init__(self, recorder: Recorder, renders: dict[str, Any] | None = None, *, stall: bool = False) -> None:
        self._recorder = recorder
        self._renders = renders or {}
        self._stall = stall

    async def get(self, render_id: str) -> Any:
        self._recorder.events.append("get")
        if self._stall:
            await asyncio.Event().wait()
        return self._renders.get(render_id)


class FakeInteraction:
    def __init__(
        self,
        renders: dict[str, Any] | None = None,
        *,
        stall: bool = False,
        guild_id: int | None = GUILD,
        custom_id: str = "video:test:0",
    ) -> None:
        self.recorder = Recorder()
        self.id = 42
        self.user = SimpleNamespace(id=USER)
        self.guild_id = guild_id
        self.channel_id = CHANNEL
        self.data = {"custom_id": custom_id}
        self.message = None
        self.permissions = discord.Permissions.none()
        self.guild = None  # never loaded: handlers work from ids
        self.filesize_limit = 25 * 1024 * 1024  # what Discord says the bot may upload here
        # What the handlers reach through `context_of`, set on the client as the bot sets its own; tests add to it.
        self.services = SimpleNamespace(renders=FakeRenders(self.recorder, renders, stall=stall))
        self.client = SimpleNamespace()
        attach_context(cast("discord.Client", self.client), AppContext(cast("Services", self.services)))
        self.response = FakeResponse(self.recorder)
        self.followup = FakeFollowup(self.recorder)

    async def edit_original_response(self, *, content: str | None = None, **_: Any) -> None:
        self.recorder.events.append(f"shown: {content}")

    def as_discord(self) -> discord.Interaction:
        return cast("discord.Interaction", self)
