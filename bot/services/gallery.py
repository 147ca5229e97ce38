"""The result message of a request: every clip of its group (its takes, or the models of a compare) in one message.

The first member to finish posts it (a reply to the card that mentions the requester); each one finishing later
adds its clip by editing it, which notifies nobody. Members finish independently, possibly at the same moment and
in different processes, so:

- the message is created once: its id is recorded only if none is yet (`set_first_gallery`); a member that lost
  that race deletes its own message and adds its clip to the winner's;
- one member edits it at a time (a lease on the group's result message): an edit sends the whole message, files
  kept and the new one, so two edits at once would each drop the other's clip. A member finding it held tries
  again a moment later (`GalleryBusy`); a lease left by a process that died runs out;
- what the message shows of each member is fingerprinted (`outcomes`): a member that fails after the message
  exists, or is deleted from it, is shown there by a text-only edit (`refresh`), and the card's sync keeps asking
  until it is.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import timedelta

from bot.domain.render import RenderRecord
from bot.domain.states import REFUNDED_STATES, TERMINAL_STATES, RenderState
from bot.services.ports import MessageGone, PublishError
from bot.services.steps import StepContext
from bot.storage.groups import GroupRepository

log = logging.getLogger("bot.services.tracker")

# How soon a member that found the result message being edited by another tries again: an edit takes a second or
# two (a long upload longer), and asking the database again costs nothing.
BUSY_RETRY = timedelta(seconds=1)
# A placeholder for "in the result message" before the message has an id (the first post).
PENDING_MESSAGE = -1
# Delete waits this many times BUSY_RETRY for a member adding its clip, then asks the member to press again.
DELETE_WAITS = 30

# Sends a clip into the result message: (the group as shown, the message to edit or None to post one, the renders
# deleted from it) -> the message id.
Post = Callable[[Sequence[RenderRecord], int | None, Collection[str]], Awaitable[int]]


class GalleryBusy(Exception):
    """Another member is editing the group's result message right now: try again in a moment."""


def outcomes(group: Sequence[RenderRecord], removed: Collection[str]) -> str:
    """A fingerprint of what the result message shows of each member: coming, its clip (as a file, a link, or
    elsewhere), failed (and why), or deleted."""
    shown = []
    for render in group:
        if render.id in removed:
            outcome = "removed"
        elif render.state is RenderState.DELIVERED:
            outcome = f"delivered:{render.result_message_id is not None}:{render.fallback}"
        elif render.state in REFUNDED_STATES:
            outcome = f"ended:{render.state.value}:{render.failure_kind}"
        else:
            outcome = "coming"
        shown.append((render.id, outcome))
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


class ResultMessages:
    def __init__(self, ctx: StepContext, groups: GroupRepository | None = None) -> None:
        self._ctx = ctx
        self._groups = groups or GroupRepository(ctx.renders.database)

    def _lease(self) -> timedelta:
        return timedelta(seconds=self._ctx.config.lease_seconds)

    async def deliver(self, render: RenderRecord, post: Post) -> int:
        """Put `render`'s clip in its group's result message, and return that message's id.

        `post(shown, into, removed)` sends it: a new message when `into` is None, else an edit of message `into`
        adding the clip; `shown` is the group as the message must show it (this member delivered), `removed` the
        members deleted from it. Raises `GalleryBusy` while another member edits the message, and the publisher's
        errors as they come.
        """
        ctx, groups = self._ctx, self._groups
        owner = f"{ctx.config.owner}:{render.id}"
        now = ctx.now()
        if not await groups.take(render.group_id, "gallery", owner, now=now, until=now + self._lease()):
            raise GalleryBusy(render.group_id)
        try:
            record = await groups.get(render.group_id)
            members = await ctx.renders.list_group(render.group_id) or [render]
            into = record.gallery_message_id

            def shown(message_id: int) -> list[RenderRecord]:
                return [_delivered_into(m, message_id) if m.id == render.id else m for m in members]

            if into is not None:
                try:
                    await post(shown(into), into, record.removed)
                except MessageGone:
                    # Someone deleted the result message: a new one takes its place, with this clip.
                    log.info("render %s: result message %s is gone; posting a new one", render.id, into)
                    message_id = await post(shown(PENDING_MESSAGE), None, record.removed)
                    fingerprint = outcomes(shown(message_id), record.removed)
                    await groups.replace_gallery(render.group_id, into, message_id, now=ctx.now(), shown=fingerprint)
                    return message_id
                await groups.set_gallery_shown(render.group_id, outcomes(shown(into), record.removed), now=ctx.now())
                return into
            message_id = await post(shown(PENDING_MESSAGE), None, record.removed)
            fingerprint = outcomes(shown(message_id), record.removed)
            if await groups.set_first_gallery(render.group_id, message_id, now=ctx.now(), shown=fingerprint):
                return message_id
            # Another member's message was recorded first (its lease ran out while it posted): one message per
            # group, so ours goes and the clip joins theirs.
            await ctx.publisher.delete_message(render.channel_id, message_id)
            winner = (await groups.get(render.group_id)).gallery_message_id
            assert winner is not None
            log.info("render %s: result message %s was posted first; adding the clip to it", render.id, winner)
            await post(shown(winner), winner, record.removed)
            return winner
        finally:
            await groups.release(render.group_id, "gallery", owner, now=ctx.now())

    async def adopt(self, render: RenderRecord, message_id: int) -> None:
        """A clip found already posted after an interrupted post: its message is the group's result message, unless
        one was recorded meanwhile. Its lines are brought up to date by the next `refresh`."""
        await self._groups.set_first_gallery(render.group_id, message_id, now=self._ctx.now(), shown="")

    async def refresh(self, render: RenderRecord) -> bool:
        """Show every member of `render`'s group as it is on the result message (text and buttons; the files stay).
        True when the message shows them (or there is none); False when it must be asked again later."""
        ctx, groups = self._ctx, self._groups
        record = await groups.get(render.group_id)
        if record.gallery_message_id is None:
            return True
        members = await ctx.renders.list_group(render.group_id)
        wanted = outcomes(members, record.removed)
        if record.gallery_shown == wanted:
            return True
        owner = f"{ctx.config.owner}:refresh:{render.id}"
        now = ctx.now()
        if not await groups.take(render.group_id, "gallery", owner, now=now, until=now + self._lease()):
            return False  # a member is adding its clip: its edit shows the others as they are, and we look again
        try:
            # Read again under the lease: a member that added its clip just before is shown with it.
            record = await groups.get(render.group_id)
            members = await ctx.renders.list_group(render.group_id)
            if record.gallery_message_id is None:
                return True
            await ctx.publisher.refresh_result(members, record.gallery_message_id, removed=record.removed)
            await groups.set_gallery_shown(render.group_id, outcomes(members, record.removed), now=ctx.now())
            return True
        except MessageGone:
            # Deleted: nothing to show it in any more (the card still says how each member ended).
            assert record.gallery_message_id is not None
            await groups.replace_gallery(render.group_id, record.gallery_message_id, None, now=ctx.now(), shown="")
            return True
        except PublishError as error:
            log.warning("group %s: result message not updated (%s); will retry", render.group_id, error)
            return False
        finally:
            await groups.release(render.group_id, "gallery", owner, now=ctx.now())

    async def remove(self, render: RenderRecord, *, pressed: int | None = None) -> bool:
        """A member deleted `render`'s clip: it is left out of the result message from now on, its file with it.
        When no clip is left there and none is coming, the result message goes, and the card with it (as a lone
        clip's Delete always did). `pressed`: the message the button was on (its id may not be recorded yet).
        False when another member kept the message busy too long: nothing changed, the member may press again."""
        ctx, groups = self._ctx, self._groups
        owner = f"{ctx.config.owner}:delete:{render.id}"
        for _ in range(DELETE_WAITS):
            now = ctx.now()
            if await groups.take(render.group_id, "gallery", owner, now=now, until=now + self._lease()):
                break
            await ctx.clock.sleep(BUSY_RETRY.total_seconds())
        else:
            return False
        try:
            record = await groups.get(render.group_id)
            if record.gallery_message_id is None:
                # No shared result message recorded (a clip posted before results were shared): as Delete always did.
                await self._delete(render, pressed, render.result_message_id, render.status_message_id)
                return True
            await groups.remove(render.group_id, render.id, now=ctx.now())
            removed = record.removed | {render.id}
            members = await ctx.renders.list_group(render.group_id) or [render]
            left = [
                m
                for m in members
                if m.id not in removed and (m.state is RenderState.DELIVERED or m.state not in TERMINAL_STATES)
            ]
            if left:
                try:
                    await ctx.publisher.refresh_result(members, record.gallery_message_id, removed=removed)
                    await groups.set_gallery_shown(render.group_id, outcomes(members, removed), now=ctx.now())
                    return True
                except MessageGone:
                    pass  # deleted meanwhile: what is left goes too
            await self._delete(render, pressed, record.gallery_message_id, render.status_message_id)
            await groups.replace_gallery(render.group_id, record.gallery_message_id, None, now=ctx.now(), shown="")
            return True
        finally:
            await groups.release(render.group_id, "gallery", owner, now=ctx.now())

    async def _delete(self, render: RenderRecord, *message_ids: int | None) -> None:
        for message_id in dict.fromkeys(message_ids):
            if message_id is not None:
                await self._ctx.publisher.delete_message(render.channel_id, message_id)


def _delivered_into(render: RenderRecord, message_id: int) -> RenderRecord:
    """The member as the result message shows it once its clip is in (before the database says so)."""
    return replace(render, state=RenderState.DELIVERED, result_message_id=message_id, finished_at=render.finished_at)
