"""One render (one take of a request) as the rest of the bot sees it, and a take about to be reserved.

Plain values: storage reads and writes them, services and the Discord layer work with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.request import VideoRequest
from bot.domain.states import FailureKind, RenderState


@dataclass(frozen=True)
class RenderRecord:
    """One render (one take of a request) as stored."""

    id: str
    group_id: str
    take_index: int  # 1..takes
    takes: int
    guild_id: int
    channel_id: int
    user_id: int
    request: VideoRequest
    state: RenderState
    cost: int
    created_at: datetime
    updated_at: datetime
    created_day: str
    created_month: str
    task_id: str | None
    request_id: str | None
    progress: int
    video_url: str | None
    failure_kind: FailureKind | None
    failure_detail: str | None
    status_message_id: int | None
    result_message_id: int | None
    thread_id: int | None
    upload_limit: int
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_poll_at: datetime | None
    poll_count: int
    lease_owner: str | None
    lease_until: datetime | None
    shown_hash: str | None
    closed: bool
    approval_message_id: int | None
    approval_reason: str | None
    decided_by: int | None


@dataclass(frozen=True)
class NewRender:
    """One take to reserve; a request with N takes is reserved as N of these sharing a group."""

    guild_id: int
    channel_id: int
    user_id: int
    request: VideoRequest
    cost: int  # of this take
    upload_limit: int  # bytes the channel accepts, from the interaction
    state: RenderState  # ACCEPTED, or AWAITING_APPROVAL (forced anyway when the decision needs approval)
