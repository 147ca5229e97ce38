"""The status card of each render: posted once, then edited whenever what it shows changes.

An edit is sent only when the card's fingerprint (`visible_state`) changes, and what it shows is recorded after
Discord accepted it, so a restart re-sends only edits that may not have landed.

Edits go out in the background (`CardEdits`), never within a tracker step: Discord lets a channel's messages be
edited only a few times per few seconds, and a step waiting for that budget would keep clips waiting behind it.
Per channel one edit is in flight at a time, showing the newest state of its render (states that changed again
while waiting are never sent), final states first; discord.py spaces them by the rate-limit headers Discord sends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.background import spawn
from bot.clock import Clock
from bot.domain.queue import shown_place
from bot.domain.render import RenderRecord
from bot.domain.states import REFUNDED_STATES, TERMINAL_STATES, RenderState
from bot.metrics import DISCORD_GIVE_UPS, DISCORD_RETRIES
from bot.services.gallery import ResultMessages
from bot.services.ports import (
    ChannelGone,
    MessageGone,
    MessageRefused,
    PermissionMissing,
    PublishError,
)
from bot.services.steps import StepContext
from bot.storage.groups import GroupRepository

log = logging.getLogger("bot.services.tracker")


def visible_state(render: RenderRecord) -> str:
    """A fingerprint of what the status message shows; an edit is sent only when it changes."""
    shown: tuple[object, ...] = (
        render.state.value,
        render.progress if render.state is RenderState.RENDERING else None,
        render.failure_kind.value if render.failure_kind else None,
        render.failure_detail,
        render.result_message_id,
        render.decided_by,
        render.chat_blocked_reason if render.state is RenderState.SUCCEEDED else None,
    )
    place = shown_place(render.queue_place) if render.state is RenderState.ACCEPTED else None
    if place is not None:
        # Only the place the card shows (far back, to the ten): a line moving by one edits the cards near its
        # front. Added only when there is one, so cards without a place keep the fingerprint they had.
        shown += (place,)
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


def card_shown(render: RenderRecord) -> bool:
    """The card shows the render as it is (or there is no card to show it any more)."""
    return render.chat_gone or render.shown_hash == visible_state(render)


class CardRecords(Protocol):
    """Where what a card shows is read and written: the renders, leased (within a step) or not (`CardEdits`)."""

    async def get(self, render_id: str) -> RenderRecord | None: ...

    async def list_group(self, group_id: str) -> list[RenderRecord]: ...

    async def update(self, render_id: str, *, now: datetime, **fields: Any) -> None: ...


class StatusCards:
    """Brings a request's card up to date: posts it, edits it, and copes with what Discord answers.

    One card stands for every render of a request (its takes, or the models of a compare): `sync(render)` shows
    the whole group as it is, and records what it showed of each member (`shown_hash`). A member that ended without
    a clip counts as shown only once the request's result message shows it too (`ResultMessages.refresh`), so it
    is not closed before. One process edits a group's card at a time (a lease in `render_groups`): an edit sends
    the whole card, and two at once could leave the older one last.
    """

    def __init__(self, ctx: StepContext, records: CardRecords | None = None) -> None:
        self._ctx = ctx
        self._records: CardRecords = records or ctx.renders
        self._groups = GroupRepository(ctx.renders.database)
        self._results = ResultMessages(ctx, self._groups)

    async def _reload(self, render: RenderRecord) -> RenderRecord:
        fresh = await self._records.get(render.id)
        return fresh if fresh is not None else render

    async def sync(self, render: RenderRecord) -> RenderRecord:
        ctx = self._ctx
        if render.chat_gone:
            return render
        group = await self._records.list_group(render.group_id) or [render]
        if render.status_message_id is not None and all(card_shown(member) for member in group):
            return render
        now = ctx.now()
        owner = f"{ctx.config.owner}:card:{render.id}"
        until = now + timedelta(seconds=ctx.config.lease_seconds)
        if not await self._groups.take(render.group_id, "card", owner, now=now, until=until):
            # Another process is editing this card: its edit (or the next step's) shows this change.
            log.info("render %s: card of group %s busy elsewhere; will retry", render.id, render.group_id)
            return render
        try:
            return await self._show(render)
        finally:
            await self._groups.release(render.group_id, "card", owner, now=ctx.now())

    async def _show(self, render: RenderRecord) -> RenderRecord:
        ctx, records, groups = self._ctx, self._records, self._groups
        # Read under the lease: every member as it is now is what the card will show.
        group = await records.list_group(render.group_id) or [render]
        render = next((member for member in group if member.id == render.id), render)
        if render.chat_gone:
            return render
        wanted = {member.id: visible_state(member) for member in group}
        card_id = next((m.status_message_id for m in group if m.status_message_id is not None), None)
        posted: int | None = None
        try:
            if card_id is None:
                posted = await ctx.publisher.post_status(render, group)
            else:
                try:
                    await ctx.publisher.edit_status(replace(render, status_message_id=card_id), group)
                except (MessageGone, MessageRefused) as error:
                    # Deleted, or an edit Discord will never take (a card in a thread since locked): a new card.
                    log.info("render %s: status message can't be edited (%s); posting a new one", render.id, error)
                    posted = await ctx.publisher.post_status(render, group)
        except ChannelGone:
            log.info("render %s: channel %s is gone", render.id, render.channel_id)
            for member in group:
                await records.update(member.id, now=ctx.now(), chat_gone=True)
                if member.state in (RenderState.FAILED, RenderState.DENIED):
                    await ctx.publisher.notify_requester(member, url=None)
            return await self._reload(render)
        except MessageRefused as error:
            # Neither the edit nor a new card passes: stop trying to show this state (the clip and the DMs still
            # reach the member), rather than ask Discord the same thing for ever.
            DISCORD_GIVE_UPS.labels(kind="refused").inc()
            log.warning("render %s: status card refused by Discord (%s); leaving it as it is", render.id, error)
            await groups.set_card_shown(wanted, now=ctx.now())
            return await self._reload(render)
        except PublishError as error:
            return await self._not_shown(render, wanted[render.id], error)
        # A member that ended without a clip is shown as such on the result message too before it counts as shown.
        result_shown = await self._results.refresh(render)
        shown = {
            member.id: wanted[member.id] for member in group if result_shown or member.state not in REFUNDED_STATES
        }
        if card_id is None and posted is not None:
            if not await groups.set_first_card(render.group_id, posted, now=ctx.now(), shown=shown):
                # accept() got there first after all: one card per request.
                await ctx.publisher.delete_message(render.channel_id, posted)
        elif posted is not None:
            await groups.move_card(render.group_id, posted, now=ctx.now(), shown=shown)
        else:
            await groups.set_card_shown(shown, now=ctx.now())
        return await self._reload(render)

    async def _not_shown(self, render: RenderRecord, wanted: str, error: PublishError) -> RenderRecord:
        """A card that can't be edited for now: retried on the next steps, but a finished render does not stay
        open for ever waiting to show its end."""
        ctx, records = self._ctx, self._records
        now = ctx.now()
        kind = "permission" if isinstance(error, PermissionMissing) else "transient"
        ended = render.finished_at or render.updated_at
        if render.state in TERMINAL_STATES and now - ended > timedelta(seconds=ctx.config.delivery_wait):
            DISCORD_GIVE_UPS.labels(kind=kind).inc()
            log.warning("render %s: final state never shown on its card (%s); closing it anyway", render.id, error)
            await records.update(render.id, now=now, shown_hash=wanted)
            return await self._reload(render)
        DISCORD_RETRIES.labels(kind=kind).inc()
        log.warning("render %s: status message not updated (%s); will retry", render.id, error)
        return render


class CardEdits:
    """The cards' edits, sent in the background so that no tracker step waits for Discord's edit limit.

    `request(render)` returns at once. Per channel, one worker sends the edits one after the other: each time the
    render's newest state read from the database (a state that changed again while waiting is never sent), final
    states before the others (a final state is what members wait for, and what lets the render be closed).
    One edit in flight per channel keeps discord.py's count of the channel's edit budget exact, so it waits out
    the budget from Discord's rate-limit headers instead of running into 429s; channels do not wait for each other.

    A render whose final state the card now shows is closed here. A card that can't be shown for now (Discord
    unavailable, a permission missing) is dropped from the queue: the render's next step asks again. Nothing
    here is kept that the database does not know, so a restart loses no edit.
    """

    def __init__(self, cards: StatusCards, records: CardRecords, *, clock: Clock) -> None:
        self._cards = cards
        self._records = records
        self._clock = clock
        # Per channel, the renders whose card should change, with the newest state asked for (in asking order).
        self._wanted: dict[int, dict[str, RenderRecord]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def waiting(self) -> int:
        """Card edits asked for and not sent yet, over every channel."""
        return sum(len(queue) for queue in self._wanted.values())

    def request(self, render: RenderRecord) -> None:
        """Bring the card of `render` up to date in the background."""
        if self._stopping or render.chat_gone:
            return
        queue = self._wanted.setdefault(render.channel_id, {})
        # A render already waiting keeps its place; only the state to show (the newest) changes.
        queue[render.id] = render
        if render.channel_id not in self._workers:
            self._workers[render.channel_id] = spawn(
                self._send(render.channel_id, queue), name=f"card-edits-{render.channel_id}"
            )

    async def drain(self) -> None:
        """Wait until every edit asked for has been sent (tests and `stop`)."""
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def stop(self, grace: float) -> None:
        """Take no more edits and send those waiting for up to `grace` seconds; the rest are asked for again by the
        renders' next steps, after a restart."""
        self._stopping = True
        try:
            await asyncio.wait_for(self.drain(), timeout=grace)
        except TimeoutError:
            for worker in list(self._workers.values()):
                worker.cancel()
            await asyncio.gather(*self._workers.values(), return_exceptions=True)
            log.info("card edits stopped with %d not sent", self.waiting)
        self._wanted.clear()

    async def _send(self, channel_id: int, queue: dict[str, RenderRecord]) -> None:
        try:
            while queue:
                asked = queue.pop(_next_up(queue))
                try:
                    await self._show(asked)
                except Exception:
                    # One render's trouble (the database, a bug) must not stop its channel's other cards.
                    log.exception("render %s: card edit failed; its next step asks again", asked.id)
        finally:
            # Nothing is awaited between the last look at the queue and here: no request can slip in unseen.
            del self._workers[channel_id]
            if not queue:
                self._wanted.pop(channel_id, None)

    async def _show(self, asked: RenderRecord) -> None:
        render = await self._records.get(asked.id)
        if render is None or render.closed:
            return
        if not card_shown(render):
            render = await self._cards.sync(render)
        if render.state in TERMINAL_STATES and card_shown(render):
            # What the member had to see is shown, and a finished render has nothing else to do.
            await self._records.update(render.id, now=self._clock.now(), closed=True)
            log.info("render %s closed as %s", render.id, render.state.value)


def _next_up(queue: dict[str, RenderRecord]) -> str:
    """The render whose card goes next: the first asked for whose final state is waiting, else the first asked."""
    return next((key for key, render in queue.items() if render.state in TERMINAL_STATES), next(iter(queue)))
