"""The card of a render waiting in the bot's own queue: its place in line, the Cancel button while it waits and
never once it was sent, and what a cancelled card says. `/video quota`'s lines about waiting renders."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import discord
import pytest

from bot.discord_app.ui import text
from bot.discord_app.ui.status import status_embed
from bot.discord_app.ui.views import CancelButton, status_view
from bot.domain.render import RenderRecord
from bot.domain.states import FailureKind, RenderState
from tests.storage.builders import CHANNEL, GUILD, T0, USER, video_request

RENDER_ID = "0123456789abcdef0123456789abcdef"
MODERATOR = 4_000_000_000_000_000_004


def render_in(state: RenderState, **fields: Any) -> RenderRecord:
    record = RenderRecord(
        id=RENDER_ID,
        group_id="fedcba9876543210fedcba9876543210",
        take_index=1,
        takes=1,
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        request=video_request(),
        state=state,
        cost=5,
        created_at=T0,
        updated_at=T0,
        created_day="2026-11-24",
        created_month="2026-11",
        task_id=None,
        request_id=None,
        progress=0,
        video_url=None,
        failure_kind=None,
        failure_detail=None,
        status_message_id=None,
        result_message_id=None,
        thread_id=None,
        upload_limit=25 * 1024 * 1024,
        submitted_at=None,
        started_at=None,
        finished_at=None,
        next_poll_at=None,
        poll_count=0,
        lease_owner=None,
        lease_until=None,
        shown_hash=None,
        closed=False,
        approval_message_id=None,
        approval_reason=None,
        decided_by=None,
    )
    return replace(record, **fields)


def buttons(view: discord.ui.View | None) -> list[discord.ui.Button[Any]]:
    if view is None:
        return []
    items = [item.item if isinstance(item, discord.ui.DynamicItem) else item for item in view.children]
    return [item for item in items if isinstance(item, discord.ui.Button)]


def button_labels(view: discord.ui.View | None) -> list[str]:
    return [str(button.label) for button in buttons(view)]


def field_of(embed: discord.Embed, name: str) -> str | None:
    values = [f.value for f in embed.fields if f.name == name]
    return values[0] if values else None


# ---- the Cancel button -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [RenderState.ACCEPTED, RenderState.AWAITING_APPROVAL])
async def test_a_waiting_request_offers_cancel(state: RenderState) -> None:
    view = status_view(render_in(state))

    [button] = buttons(view)
    assert (button.label, button.custom_id) == (text.CANCEL, f"video:cancel:{RENDER_ID}")


@pytest.mark.parametrize(
    "state", [RenderState.SUBMITTING, RenderState.QUEUED, RenderState.RENDERING, RenderState.SUCCEEDED]
)
async def test_cancel_is_never_offered_once_the_create_was_sent(state: RenderState) -> None:
    assert text.CANCEL not in button_labels(status_view(render_in(state, task_id="task-1")))


async def test_a_cancelled_card_offers_nothing_and_other_failures_still_offer_regenerate() -> None:
    cancelled = render_in(RenderState.FAILED, failure_kind=FailureKind.CANCELLED, decided_by=USER)
    failed = render_in(RenderState.FAILED, failure_kind=FailureKind.API_UNAVAILABLE)

    assert status_view(cancelled) is None
    assert button_labels(status_view(failed)) == [text.REGENERATE]


async def test_the_cancel_button_comes_back_after_a_restart_from_its_custom_id() -> None:
    match = CancelButton.__discord_ui_compiled_template__.fullmatch(f"video:cancel:{RENDER_ID}")

    assert match is not None and match["id"] == RENDER_ID


# ---- what the card shows -----------------------------------------------------------------------------------


def test_a_waiting_card_shows_its_place_in_line() -> None:
    embed = status_embed(render_in(RenderState.ACCEPTED, queue_place=3), render_timeout=3600)

    assert field_of(embed, text.PLACE_FIELD) == "**3rd in line**, about 2 renders ahead of it."


def test_places_far_back_are_shown_roughly_and_the_first_as_next() -> None:
    assert text.place_in_line(1) == "**Next in line**: it goes to ModelStream as soon as a slot frees."
    assert text.place_in_line(2) == "**2nd in line**, about 1 render ahead of it."
    assert text.place_in_line(23) == "**About 30th in line**."
    assert [text.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]


def test_no_place_is_shown_when_nothing_limits_the_queue_or_once_sent() -> None:
    waiting = status_embed(render_in(RenderState.ACCEPTED), render_timeout=3600)
    queued = status_embed(render_in(RenderState.QUEUED, queue_place=2), render_timeout=3600)

    assert field_of(waiting, text.PLACE_FIELD) is None
    assert field_of(queued, text.PLACE_FIELD) is None


def test_a_cancelled_card_says_who_cancelled_and_that_the_credits_came_back() -> None:
    render = render_in(RenderState.FAILED, failure_kind=FailureKind.CANCELLED, decided_by=MODERATOR)

    embed = status_embed(render, render_timeout=3600)

    assert embed.title == text.CANCELLED_TITLE
    assert field_of(embed, "Cancelled") == f"Cancelled by <@{MODERATOR}>."
    assert field_of(embed, "Why") == "Cancelled before it was sent to ModelStream."
    assert field_of(embed, "Credits") == "Your 5 credits were refunded."
    assert field_of(embed, "Moderation") is None


def test_quota_lists_waiting_renders_with_their_places() -> None:
    lines = text.queue_lines([("aaaaaaaa1111", 1), ("bbbbbbbb2222", 4), ("cccccccc3333", None)])

    assert lines == [
        "Waiting in the bot's queue: `aaaaaaaa` 1st in line, `bbbbbbbb` 4th in line, `cccccccc` being sent now."
    ]
    assert text.queue_lines([]) == []
