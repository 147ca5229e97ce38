"""The render lifecycle's transition table."""

from __future__ import annotations

import pytest

from bot.domain.errors import IllegalTransition
from bot.domain.states import (
    CHARGED_STATES,
    REFUNDED_STATES,
    TERMINAL_STATES,
    RenderState,
    can_move,
    check_move,
    sources_of,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RenderState.ACCEPTED, RenderState.SUBMITTING),
        (RenderState.SUBMITTING, RenderState.ACCEPTED),  # the create certainly never reached the API
        (RenderState.QUEUED, RenderState.RENDERING),
        (RenderState.RENDERING, RenderState.SUCCEEDED),
        (RenderState.SUCCEEDED, RenderState.DELIVERED),
        (RenderState.SUCCEEDED, RenderState.FAILED),  # the API said done but has no video to give
        (RenderState.AWAITING_APPROVAL, RenderState.DENIED),
        (RenderState.AWAITING_APPROVAL, RenderState.FAILED),  # nobody decided in time
    ],
)
def test_moves_of_the_lifecycle_are_allowed(current: RenderState, target: RenderState) -> None:
    check_move(current, target)
    assert can_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RenderState.ACCEPTED, RenderState.QUEUED),  # never without going through SUBMITTING
        (RenderState.DELIVERED, RenderState.SUCCEEDED),
        (RenderState.FAILED, RenderState.ACCEPTED),  # a refunded render never comes back
        (RenderState.SUCCEEDED, RenderState.QUEUED),  # a finished render is not rendered again
        (RenderState.DENIED, RenderState.FAILED),
        (RenderState.AWAITING_APPROVAL, RenderState.SUBMITTING),
    ],
)
def test_illegal_moves_raise(current: RenderState, target: RenderState) -> None:
    with pytest.raises(IllegalTransition, match=f"{current.value} to {target.value}"):
        check_move(current, target)


def test_terminal_states_lead_nowhere() -> None:
    for state in TERMINAL_STATES:
        assert not any(can_move(state, target) for target in RenderState)


def test_sources_of_delivered_is_only_succeeded() -> None:
    assert sources_of(RenderState.DELIVERED) == {RenderState.SUCCEEDED}


def test_succeeded_ends_delivered_or_failed() -> None:
    assert {target for target in RenderState if can_move(RenderState.SUCCEEDED, target)} == {
        RenderState.DELIVERED,
        RenderState.FAILED,
    }


def test_refunded_states_hold_no_credits() -> None:
    assert not REFUNDED_STATES & CHARGED_STATES
