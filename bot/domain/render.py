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
    chat_gone: bool = False  # the channel is gone: the requester is told by DM instead
    posting_since: datetime | None = None  # a post of the clip was under way: look for it before posting again
    attempts: int = 0  # tries of the step the render is at (submit, status, delivery); reset when it moves on
    ready_at: datetime | None = None  # first let out of the bot's queue to the API (the submit deadline's start)
    api_seconds: float = 0.0  # how long the API was seen working on it (what the render timeout counts)
    last_answer_at: datetime | None = None  # the last status answer
    chat_blocked_until: datetime | None = None  # Discord refuses the clip (permission, outage): keep trying until then
    chat_blocked_reason: str | None = None
    requester_told: bool = False  # the requester was told by DM that delivery waits for a moderator
    fallback: str | None = None  # the delivery fallback a permanent refusal of the clip post has reached
    queue_place: int | None = None  # place in the bot's own queue while it waits for a slot at the API
    parent_id: str | None = None  # the clip this one continues (Continue), if any
    chain_position: int | None = None  # 1 for a clip that was continued, the parent's + 1 for a continuation


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
    parent_id: str | None = None  # Continue: the clip this take continues
    chain_position: int | None = None  # Continue: the parent's position + 1
