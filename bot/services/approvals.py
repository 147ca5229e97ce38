"""Moderators' decisions on held requests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.clock import utc_now
from bot.domain.render import RenderRecord
from bot.domain.states import RenderState
from bot.services.ports import PublishError, StatusPublisher
from bot.storage.config import GuildConfigRepository
from bot.storage.renders import RenderRepository

log = logging.getLogger(__name__)


class GenerationPaused(Exception):
    """The server is paused: no held request may be approved or declined (nothing was changed)."""


class ApprovalService:
    def __init__(
        self,
        *,
        renders: RenderRepository,
        publisher: StatusPublisher,
        wake_tracker: Callable[[], None],
        config: GuildConfigRepository | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        """`config` tells whether a guild is paused (None: approvals never check)."""
        self._config = config
        self._renders = renders
        self._publisher = publisher
        self._wake_tracker = wake_tracker
        self._now = now

    async def decide(
        self, group_id: str, *, guild_id: int, moderator_id: int, approve: bool, approval_channel_id: int
    ) -> list[RenderRecord]:
        """Approve or deny every held take of a request; returns those this call moved (empty: already decided).

        Only takes of `guild_id` (where the moderator pressed) are decided: a crafted button from another guild
        decides nothing. The move is conditional in the database, so two moderators pressing at once decide it
        only once. Raises `GenerationPaused`, deciding nothing, while the guild is paused: an approval would send a
        request the kill switch stopped (and a pause refunds held requests anyway).
        """
        if self._config is not None and (await self._config.rules(guild_id)).paused:
            log.info("group %s: moderator %s pressed a decision while paused; refused", group_id, moderator_id)
            raise GenerationPaused()
        target = RenderState.ACCEPTED if approve else RenderState.DENIED
        now = self._now()
        moved: list[RenderRecord] = []
        for render in await self._renders.list_group(group_id):
            if render.state is not RenderState.AWAITING_APPROVAL or render.guild_id != guild_id:
                continue
            # The lease is dropped too: a tracker step that held it looked at the render before the decision, and
            # its release would otherwise push next_poll_at an hour on, leaving the approved render waiting.
            fields: dict[str, object] = {
                "decided_by": moderator_id,
                "next_poll_at": now,
                "lease_owner": None,
                "lease_until": None,
            }
            if not approve:
                fields["finished_at"] = now
            result = await self._renders.move(render.id, target, now=now, **fields)
            if result is not None:
                moved.append(result)
        if not moved:
            return []
        log.info("group %s %s by moderator %s", group_id, "approved" if approve else "denied", moderator_id)
        first = moved[0]
        if first.approval_message_id is not None:
            try:
                await self._publisher.close_approval_request(first, approval_channel_id, first.approval_message_id)
            except PublishError as error:
                log.warning("approval message of group %s not updated (%s)", group_id, error)
        self._wake_tracker()
        return moved
