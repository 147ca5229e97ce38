"""`/videoadmin`: placeholder until the moderators' toolkit lands."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.discord_app.client import VideoBot


async def setup(bot: VideoBot) -> None:
    return None
