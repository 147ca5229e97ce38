"""Cancelling a request that waits (in the bot's own queue, or for a moderator's approval) before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.domain.render import RenderRecord
from bot.domain.states import AT_API_STATES, WAITING_STATES, RenderState
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)

# Sent to the API and not finished with: too late to cancel (the API has none), but not over either.
SENT_STATES = AT_API_STATES | {RenderState.SUCCEEDED}


class CancelOutcome(Enum):
    CANCELLED = "cancelled"  # refunded, nothing reached the API
    NOT_ALLOWED = "not_allowed"  # neither the requester nor a moderator
    TOO_LATE = "too_late"  # already sent: the API has no cancel
    ENDED = "ended"  # failed, declined, cancelled or delivered already
    UNKNOWN = "unknown"  # no such render in this guild


@dataclass(frozen=True)
class Cancelled:
    outcome: CancelOutcome
    render: RenderRecord | None = None


def may_cancel(render: RenderRecord, user_id: int, *, is_moderator: bool) -> bool:
    """The requester may cancel their own request; a moderator (Manage Server) anyone's."""
    return is_moderator or render.user_id == user_id


class CancelService:
    def __init__(
        self, *, renders: RenderRepository, wake_tracker: Callable[[], None], now: Callable[[], datetime]
    ) -> None:
        self._renders = renders
        self._wake_tracker = wake_tracker
        self._now = now

    async def cancel(self, render_id: str, *, guild_id: int, user_id: int, is_moderator: bool) -> Cancelled:
        """Cancel one take (the one whose card was pressed): failed as cancelled by `user_id`, credits refunded.

        The move is conditional in the database, so a render the tracker is sending right now is never cancelled
        (it is reported too late), and two presses cancel it once.
        """
        render = await self._renders.get(render_id)
        if render is None or render.guild_id != guild_id:
            return Cancelled(CancelOutcome.UNKNOWN)
        if not may_cancel(render, user_id, is_moderator=is_moderator):
            return Cancelled(CancelOutcome.NOT_ALLOWED, render)
        if render.state in WAITING_STATES:
            moved = await self._renders.cancel_waiting(render_id, guild_id=guild_id, by=user_id, now=self._now())
            if moved is not None:
                log.info("render %s cancelled by user %s before it was sent; refunded", render_id, user_id)
                # The tracker shows the cancelled card (and closes the render) at once.
                self._wake_tracker()
                return Cancelled(CancelOutcome.CANCELLED, moved)
            # Moved meanwhile: the tracker sent it (or someone ended it) between the look and the move.
            render = await self._renders.get(render_id) or render
        if render.state in SENT_STATES:
            return Cancelled(CancelOutcome.TOO_LATE, render)
        return Cancelled(CancelOutcome.ENDED, render)
