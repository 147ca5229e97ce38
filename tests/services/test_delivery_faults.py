"""A finished clip against every kind of Discord answer: passing, waiting for a moderator, refused, gone.

Each test drives the real tracker on a fake clock against the fake gateway and a recording chat side, and looks
at what the member would see: where the clip went, what the card said, which DMs were sent, what was refunded.
"""

# ruff: noqa: F811  # the harness fixtures are imported from test_tracker and requested by name
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.domain.states import FailureKind, RenderState
from bot.services.delivery import PERMISSION_RETRY
from bot.services.ports import MessageRefused, PermissionMissing, PublishUnavailable, UploadTooLarge
from tests.services.test_tracker import (  # noqa: F401  # fixtures
    VIDEO_SIZE,
    Harness,
    api,
    db,
    harness,
    make_harness,
    no_step_crashes,
    session,
)

DAY = timedelta(hours=24)


def file_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def downloads(harness: Harness) -> int:
    return len(harness.api.calls("GET", "/files/"))


def cards_of(harness: Harness, render_id: str) -> list[str | None]:
    """The delivery note each edit of the card carried (None: no note)."""
    return [
        e.render.chat_blocked_reason
        for e in harness.publisher.events
        if e.method == "edit_status" and not e.failed and e.render and e.render.id == render_id
    ]


async def test_missing_permission_waits_for_a_moderator_tells_the_requester_once_and_delivers(
    harness: Harness,
) -> None:
    harness.publisher.fail_next("deliver_file", PermissionMissing("HTTP 403 (50013)"), times=3)
    render = await harness.add()

    waiting = await harness.until(render.id, lambda r: r.chat_blocked_reason is not None)
    assert waiting.state is RenderState.SUCCEEDED
    assert harness.wait_of(waiting) == PERMISSION_RETRY
    assert waiting.chat_blocked_until == harness.clock.now + DAY
    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert [d.method for d in harness.publisher.deliveries] == ["deliver_file"]
    assert len(harness.publisher.calls("notify_waiting")) == 1  # one DM, not one per attempt
    assert "permission" in cards_of(harness, render.id)  # the card said why the clip was late
    assert downloads(harness) == 1  # kept between attempts, never downloaded again
    assert done.chat_blocked_reason is None
    assert await harness.used_credits() == 5


async def test_permission_never_given_back_ends_refunded_after_the_wait(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", PermissionMissing("HTTP 403 (50013)"), times=10_000)
    render = await harness.add()

    done = await harness.until(render.id, lambda r: r.closed, rounds=400)

    assert (done.state, done.failure_kind, done.failure_detail) == (
        RenderState.FAILED,
        FailureKind.DELIVERY_BLOCKED,
        "24 hours",
    )
    assert done.finished_at is not None
    attempts = len(harness.publisher.calls("deliver_file", succeeded_only=False))
    assert attempts <= DAY / PERMISSION_RETRY + 2  # a slow pace, not a hammer
    assert await harness.used_credits() == 0
    [told] = [e for e in harness.publisher.calls("notify_requester") if e.render and e.render.id == render.id]
    assert told.render is not None and told.render.state is RenderState.FAILED
    assert downloads(harness) == 1
    assert list((harness.tracker._config.work_dir / "clips").glob("*.mp4")) == []
    harness.clock.advance(7 * 86400)
    await harness.run()
    assert len(harness.publisher.calls("deliver_file", succeeded_only=False)) == attempts


async def test_discord_outage_backs_off_and_keeps_the_clip(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", PublishUnavailable("HTTP 503"), times=4)
    render = await harness.add()

    first = await harness.until(render.id, lambda r: r.attempts == 1 and r.chat_blocked_reason == "outage")
    second = await harness.next_round(render.id)
    assert harness.wait_of(second) > harness.wait_of(first)
    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert downloads(harness) == 1
    assert harness.publisher.calls("notify_waiting") == []  # nobody can do anything about an outage


async def test_refused_file_falls_back_to_a_link_then_a_dm(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", MessageRefused("HTTP 400 (200000)"))
    harness.publisher.fail_next("deliver_link", MessageRefused("HTTP 403 (160005)"))
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.result_message_id) == (RenderState.DELIVERED, None)
    [dm] = harness.publisher.calls("notify_requester")
    assert dm.details["url"] == done.video_url is not None
    assert [e.method for e in harness.publisher.events if e.method.startswith("deliver_")] == [
        "deliver_file",
        "deliver_link",
    ]
    assert await harness.used_credits() == 5


async def test_refused_in_every_form_ends_refunded_and_visible(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", UploadTooLarge("413"))
    harness.publisher.fail_next("deliver_link", MessageRefused("HTTP 400 (50035)"))
    harness.publisher.fail_next("notify_requester", MessageRefused("HTTP 403 (50007)"), times=5)
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.DELIVERY_REFUSED)
    assert await harness.used_credits() == 0
    shown = [e.render.state for e in harness.publisher.calls("edit_status") if e.render]
    assert shown[-1] is RenderState.FAILED


async def test_a_result_that_is_not_a_video_is_refunded_never_posted(harness: Harness) -> None:
    harness.api.configure(body="html")
    render = await harness.add()

    done = await harness.finish(render.id)

    assert (done.state, done.failure_kind) == (RenderState.FAILED, FailureKind.NOT_A_VIDEO)
    assert harness.publisher.deliveries == []
    assert await harness.used_credits() == 0


async def test_start_up_removes_kept_clips_no_render_needs(harness: Harness) -> None:
    harness.publisher.fail_next("deliver_file", PermissionMissing("HTTP 403 (50013)"))
    waiting = await harness.add()
    await harness.until(waiting.id, lambda r: r.chat_blocked_reason is not None)
    clips: Path = harness.tracker._config.work_dir / "clips"
    (clips / "0123456789abcdef0123456789abcdef.mp4").write_bytes(b"\x00" * 64)  # a render long closed
    (clips / f"{waiting.id}.mp4.part").write_bytes(b"\x00" * 64)  # a download cut short

    await harness.tracker.prepare()

    assert file_names(clips) == [f"{waiting.id}.mp4"]


async def test_kept_clips_over_their_disk_budget_are_downloaded_again(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(kept_clips_bytes=VIDEO_SIZE - 1)
    harness.publisher.fail_next("deliver_file", PublishUnavailable("HTTP 503"))
    render = await harness.add()

    done = await harness.finish(render.id)

    assert done.state is RenderState.DELIVERED
    assert downloads(harness) == 2
