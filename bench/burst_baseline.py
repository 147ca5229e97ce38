"""Today's card edits (before the burst issue), rebuilt only so the burst benchmark can measure against them.

Nothing in the bot uses this. It reproduces the step as it was: advance the lifecycle or deliver, then edit the
status card inline, within the step's slot (waiting there for the channel's edit budget, in discord.py's bucket),
then close a finished render whose card shows its end, or look again a poll interval later when the card is not
shown. Everything else (scheduling, lanes, the lifecycle, the delivery, the card logic itself) is the current code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.domain.render import RenderRecord
from bot.domain.states import AT_API_STATES, TERMINAL_STATES, RenderState
from bot.services.cards import StatusCards, card_shown
from bot.services.tracker import Tracker


class TodaysOrder(Tracker):
    """The tracker with its step as before the burst issue: the card edit inline, after the clip of the same step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The step's own context: writes under the step's lease, as the inline edit made them.
        self._inline_cards = StatusCards(self._delivery._ctx)

    async def step(self, render: RenderRecord) -> datetime:
        was_at_api = render.state in AT_API_STATES
        if render.state is RenderState.SUCCEEDED:
            render, wait = await self._delivery.deliver(render)
        else:
            render, wait = await self._lifecycle.advance(render)
        if was_at_api and render.state not in AT_API_STATES:
            self._queue_stale = True
        render = await self._inline_cards.sync(render)
        self._seen[render.id] = render.state
        shown = card_shown(render)
        if render.state in TERMINAL_STATES and shown:
            await self._renders.update_leased(
                render.id, now=self._clock.now(), owner=self._config.owner, fields={"closed": True}
            )
        if not shown:
            wait = max(wait, timedelta(seconds=self._config.poll_interval))
        return self._clock.now() + wait
