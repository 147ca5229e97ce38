"""The render lifecycle: states and the only moves allowed between them.

Credits follow the state, so the ledger needs no column of its own: a render reserves its cost while active,
keeps it once the API produced the clip, and gives it back when it failed or was denied.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.errors import IllegalTransition


class RenderState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # held for a moderator; credits reserved
    ACCEPTED = "accepted"  # stored, credits reserved, not sent to the API yet (or safe to send again)
    SUBMITTING = "submitting"  # create call in flight: after a crash we cannot know if the API took it
    QUEUED = "queued"  # the API gave a task id
    RENDERING = "rendering"
    SUCCEEDED = "succeeded"  # the API finished; the clip is not in the channel yet
    DELIVERED = "delivered"  # the clip (or its link) is in the channel
    FAILED = "failed"  # credits refunded
    DENIED = "denied"  # a moderator said no; credits refunded


class FailureKind(StrEnum):
    """Why a render failed; the UI turns each into plain words."""

    API_REJECTED = "api_rejected"  # 400 from the API: its message is kept in failure_detail
    RENDER_FAILED = "render_failed"  # the API accepted the task, then reported failure
    TIMEOUT = "timeout"  # the render did not finish within the render timeout
    NO_CREDIT = "no_credit"  # the bot's ModelStream account is out of credit
    AUTH = "auth"  # the bot's API key was refused
    API_UNAVAILABLE = "api_unavailable"  # the API errored in a way that made the create call unsafe to repeat
    LOST_SUBMIT = "lost_submit"  # the bot stopped while sending the request and cannot know if it arrived
    INPUT_MISSING = "input_missing"  # stored images for the request are gone
    APPROVAL_EXPIRED = "approval_expired"  # no moderator decided in time
    MODEL_UNAVAILABLE = "model_unavailable"  # the gateway serves the model nowhere now (model_not_found)
    MODEL_MISCONFIGURED = "model_misconfigured"  # the model table can't express this request (or lost the model)
    NO_VIDEO = "no_video"  # the API reported success but its video can't be fetched
    NOT_A_VIDEO = "not_a_video"  # the result URL served something that is not a video
    SUBMIT_DEADLINE = "submit_deadline"  # the API would not take the request before its deadline
    DELIVERY_BLOCKED = "delivery_blocked"  # Discord kept refusing the clip (permission, outage) past the wait
    DELIVERY_REFUSED = "delivery_refused"  # Discord refused the clip in every form (file, link, DM)
    PAUSED = "paused"  # the moderators paused generation before it was sent to the API
    BANNED = "banned"  # its requester was banned before it was sent to the API
    CANCELLED = "cancelled"  # its requester (or a moderator, in decided_by) cancelled it before it was sent


ACTIVE_STATES = frozenset(
    {
        RenderState.AWAITING_APPROVAL,
        RenderState.ACCEPTED,
        RenderState.SUBMITTING,
        RenderState.QUEUED,
        RenderState.RENDERING,
    }
)
# Renders at the API (or being sent there): what MAX_RENDERS_AT_API counts, across every process.
AT_API_STATES = frozenset({RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING})
# Renders not sent yet: a member (or moderator) may still cancel them, and nothing reaches the API.
WAITING_STATES = frozenset({RenderState.ACCEPTED, RenderState.AWAITING_APPROVAL})
# Renders whose credits are spent or held; FAILED and DENIED are refunded.
CHARGED_STATES = ACTIVE_STATES | {RenderState.SUCCEEDED, RenderState.DELIVERED}
TERMINAL_STATES = frozenset({RenderState.DELIVERED, RenderState.FAILED, RenderState.DENIED})
REFUNDED_STATES = frozenset({RenderState.FAILED, RenderState.DENIED})

_ALLOWED: dict[RenderState, frozenset[RenderState]] = {
    RenderState.AWAITING_APPROVAL: frozenset({RenderState.ACCEPTED, RenderState.DENIED, RenderState.FAILED}),
    RenderState.ACCEPTED: frozenset({RenderState.SUBMITTING, RenderState.FAILED}),
    RenderState.SUBMITTING: frozenset(
        {
            RenderState.ACCEPTED,  # the create call certainly never reached the API: safe to send again
            RenderState.QUEUED,
            RenderState.RENDERING,
            RenderState.SUCCEEDED,
            RenderState.FAILED,
        }
    ),
    RenderState.QUEUED: frozenset(
        {RenderState.QUEUED, RenderState.RENDERING, RenderState.SUCCEEDED, RenderState.FAILED}
    ),
    RenderState.RENDERING: frozenset({RenderState.RENDERING, RenderState.SUCCEEDED, RenderState.FAILED}),
    # FAILED: the API said done, but it has no video to give (a Veo clip filtered after the fact).
    RenderState.SUCCEEDED: frozenset({RenderState.DELIVERED, RenderState.FAILED}),
    RenderState.DELIVERED: frozenset(),
    RenderState.FAILED: frozenset(),
    RenderState.DENIED: frozenset(),
}


def can_move(current: RenderState, target: RenderState) -> bool:
    return target in _ALLOWED[current]


def check_move(current: RenderState, target: RenderState) -> None:
    if not can_move(current, target):
        raise IllegalTransition(f"render cannot move from {current.value} to {target.value}")


def sources_of(target: RenderState) -> frozenset[RenderState]:
    """Every state a render may move to `target` from: the guard of a conditional UPDATE."""
    return frozenset(state for state, targets in _ALLOWED.items() if target in targets)
