"""The status card and the result message in Components V2: what members read on them, and that Discord takes
them whatever was typed (checked by the same rules the fake Discord refuses messages by)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.discord_app.ui import text
from bot.discord_app.ui.card import CardStyle, approval_card, approval_closed_card, first_frame, status_card
from bot.discord_app.ui.gallery import result_message
from bot.domain.estimates import Estimate, RenderKind
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.request import GenerationMode, ImageRole, ImageSlot, Shot, VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.domain.storyboard import MAX_SHOT_PROMPT_CHARS
from bot.domain.validation import MAX_PROMPT_CHARS
from tests.discord_app.ui.test_status import render_of, veo_request
from tests.fakes.discord_components import MAX_COMPONENTS, MAX_TEXT, check, gallery_items, texts, walk

MODELS = load_model_table()
STYLE = CardStyle(render_timeout=3600.0, models=MODELS)
# Every character escaped (markdown) and a mention defused: the longest a prompt can be once made safe to show.
WORST_PROMPT = ("*_`~|>@everyone " * 200)[:MAX_PROMPT_CHARS]
LONG_REASON = "the upstream model refused: " + "policy violation <@123> " * 400


def components(view: discord.ui.LayoutView) -> list[dict[str, Any]]:
    return view.to_components()


def shown(view: discord.ui.LayoutView) -> str:
    """Everything a member reads on the message."""
    return "\n".join(texts(components(view)))


def accepted_by_discord(view: discord.ui.LayoutView, files: list[str] = ()) -> None:  # type: ignore[assignment]
    """The message passes Discord's Components V2 rules (40 components at every depth, 4,000 characters)."""
    payload = components(view)
    check(payload, v2=True, attachment_names=list(files))
    assert sum(1 for _ in walk(payload)) <= MAX_COMPONENTS
    assert sum(len(t) for t in texts(payload)) <= MAX_TEXT


def button_labels(view: discord.ui.LayoutView) -> list[str]:
    return [str(c.get("label")) for c in walk(components(view)) if c.get("type") == 2]


def group_of(count: int, request: VideoRequest | None = None, **fields: Any) -> list[RenderRecord]:
    request = request or veo_request()
    return [
        render_of(
            replace(request, takes=count, seed=100 + n),
            id=f"{n:032x}",
            take_index=n,
            takes=count,
            cost=16,
            **fields,
        )
        for n in range(1, count + 1)
    ]


def compare_of(*models: str, **fields: Any) -> list[RenderRecord]:
    base = veo_request()
    return [
        render_of(replace(base, model=model, seed=None), id=f"{n:032x}", take_index=n, takes=len(models), cost=10 * n)
        for n, model in enumerate(models, start=1)
    ]


def failed(render: RenderRecord, detail: str = LONG_REASON) -> RenderRecord:
    return replace(render, state=RenderState.FAILED, failure_kind=FailureKind.API_REJECTED, failure_detail=detail)


# ---- a request of one render reads as the embed card did ---------------------------------------------------


def test_a_lone_render_shows_what_the_embed_showed() -> None:
    started = render_of(
        veo_request(), RenderState.RENDERING, progress=40, started_at=render_of(veo_request()).created_at
    )

    card = status_card([started], STYLE)

    seen = shown(card)
    assert "🎬 Rendering · 40%" in seen
    assert "a lighthouse in a storm" in seen
    assert "Veo 3.1" in seen and "seed 7" in seen
    assert f"<@{started.user_id}>" in seen and "48 credits" in seen
    assert "**Started:** <t:" in seen
    assert f"Request {started.id[:8]}" in seen
    accepted_by_discord(card)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": RenderState.ACCEPTED, "queue_place": 3}, "3rd in line"),
        (
            {"state": RenderState.FAILED, "failure_kind": FailureKind.TIMEOUT},
            "took longer than 60 minutes",
        ),
        ({"state": RenderState.FAILED, "failure_kind": FailureKind.TIMEOUT}, "Your 48 credits were refunded."),
        ({"state": RenderState.DENIED, "decided_by": 42}, "Declined by <@42>."),
        (
            {"state": RenderState.FAILED, "failure_kind": FailureKind.CANCELLED, "decided_by": 42},
            "Cancelled by <@42>.",
        ),
        ({"state": RenderState.DELIVERED, "result_message_id": 5}, text.DONE_BELOW),
        ({"state": RenderState.AWAITING_APPROVAL}, "Waiting for a moderator's approval"),
    ],
)
def test_each_state_says_what_the_embed_said(fields: dict[str, Any], expected: str) -> None:
    card = status_card([render_of(veo_request(), **fields)], STYLE)

    assert expected in shown(card)
    accepted_by_discord(card)


def test_a_clip_waiting_for_a_permission_says_so_on_the_card() -> None:
    waiting = render_of(
        veo_request(),
        RenderState.SUCCEEDED,
        chat_blocked_reason="permission",
        chat_blocked_until=render_of(veo_request()).created_at + timedelta(hours=1),
    )

    assert "missing a permission" in shown(status_card([waiting], STYLE))


def test_cancel_while_it_waits_regenerate_once_it_failed_nothing_while_it_renders() -> None:
    waiting = status_card([render_of(veo_request(), RenderState.ACCEPTED)], STYLE)
    broken = status_card([failed(render_of(veo_request()))], STYLE)
    rendering = status_card([render_of(veo_request(), RenderState.RENDERING)], STYLE)

    assert button_labels(waiting) == [text.CANCEL]
    assert button_labels(broken) == [text.REGENERATE]
    assert button_labels(rendering) == []


def test_the_colour_follows_the_state() -> None:
    def colour(render: RenderRecord) -> int:
        return int(components(status_card([render], STYLE))[0]["accent_color"])

    assert colour(render_of(veo_request(), RenderState.DELIVERED)) == discord.Colour.green().value
    assert colour(failed(render_of(veo_request()))) == discord.Colour.red().value
    assert colour(render_of(veo_request(), RenderState.AWAITING_APPROVAL)) == discord.Colour.gold().value
    assert colour(render_of(veo_request(), RenderState.RENDERING)) == discord.Colour.blurple().value


def test_image_mode_shows_the_first_frame_as_a_thumbnail() -> None:
    request = replace(
        veo_request(),
        generation_mode=GenerationMode.IMAGE,
        aspect_ratio=None,
        images=(ImageSlot(ImageRole.FIRST_FRAME, 1, "ab" * 32),),
    )
    render = render_of(request)

    card = status_card([render], replace(STYLE, thumbnail="first-frame.png"))

    assert first_frame(request) == "ab" * 32
    (thumbnail,) = [c for c in walk(components(card)) if c.get("type") == 11]
    assert thumbnail["media"]["url"] == "attachment://first-frame.png"
    accepted_by_discord(card, ["first-frame.png"])
    assert first_frame(veo_request()) is None


# ---- at Discord's limits, whatever was typed -------------------------------------------------------------------


def test_the_longest_prompt_fits_cut_with_an_ellipsis() -> None:
    card = status_card([render_of(replace(veo_request(), prompt=WORST_PROMPT))], STYLE)

    accepted_by_discord(card)
    assert "…" in shown(card)
    assert "@everyone" not in shown(card)  # defused: a zero-width space keeps it from pinging


def test_six_long_shots_and_the_longest_prompt_share_the_card() -> None:
    shots = tuple(Shot(("_*" * 400)[:MAX_SHOT_PROMPT_CHARS] + str(n), 2) for n in range(1, 7))
    request = replace(veo_request(), prompt=WORST_PROMPT, multi_shot=True, shots=shots, duration=12)

    card = status_card([failed(render_of(request))], STYLE)

    accepted_by_discord(card)
    seen = shown(card)
    assert "**Storyboard**" in seen
    assert all(f"{n}. (2 s)" in seen for n in range(1, 7))  # every shot keeps its place, cut evenly
    assert "ModelStream refused the request" in seen  # the failure reason survives, cut


def test_four_failed_takes_with_long_reasons_a_long_prompt_and_a_storyboard_fit() -> None:
    shots = tuple(Shot("~" * MAX_SHOT_PROMPT_CHARS, 2) for _ in range(6))
    request = replace(veo_request(), prompt=WORST_PROMPT, multi_shot=True, shots=shots, duration=12)

    card = status_card([failed(render) for render in group_of(4, request)], STYLE)

    accepted_by_discord(card)
    seen = shown(card)
    assert all(f"**Take {n}**" in seen for n in range(1, 5))
    assert button_labels(card) == [f"Regenerate Take {n}" for n in range(1, 5)]


def test_the_approval_request_fits_with_the_longest_prompt_and_reason() -> None:
    group = [replace(r, approval_reason="x" * 3000) for r in group_of(4, replace(veo_request(), prompt=WORST_PROMPT))]

    card = approval_card(group, STYLE)

    accepted_by_discord(card)
    assert button_labels(card) == [text.APPROVE, text.DENY]
    assert "64 credits" in shown(card)


def test_a_closed_approval_request_has_the_decision_and_no_buttons() -> None:
    decided = render_of(veo_request(), RenderState.DENIED, decided_by=42)

    card = approval_closed_card(decided, STYLE)

    assert "Declined by <@42>." in shown(card)
    assert button_labels(card) == []
    accepted_by_discord(card)


def test_an_approval_request_that_ended_undecided_says_why() -> None:
    paused = render_of(veo_request(), RenderState.FAILED, failure_kind=FailureKind.PAUSED)

    card = approval_closed_card(paused, STYLE)

    assert "No longer waiting for a decision: The moderators paused video generation" in shown(card)
    assert button_labels(card) == []


# ---- takes together and compare ----------------------------------------------------------------------------------


def test_one_card_shows_every_take_with_its_seed_and_state() -> None:
    takes = group_of(3)
    takes[0] = replace(takes[0], state=RenderState.DELIVERED, result_message_id=9)
    takes[1] = replace(takes[1], state=RenderState.RENDERING, progress=10)
    takes[2] = failed(takes[2], "bad prompt")

    card = status_card(takes, STYLE)

    seen = shown(card)
    assert "🎬 Rendering · 3 takes · 2 of 3 done" in seen
    assert "**Take 1** · seed 101: ✅ Done" in seen
    assert "**Take 2** · seed 102: 🎬 Rendering · 10%" in seen
    assert "**Take 3** · seed 103: ❌ Failed: ModelStream refused the request: bad prompt" in seen
    assert "16 credits refunded." in seen
    assert text.DONE_BELOW_GROUP in seen
    assert "seed 7" not in seen  # the shared settings leave the seed to each take
    assert button_labels(card) == ["Regenerate Take 3"]
    accepted_by_discord(card)


def test_a_group_that_ended_with_some_failed_is_done_and_says_how_many_failed() -> None:
    takes = [replace(t, state=RenderState.DELIVERED, result_message_id=9) for t in group_of(3)]
    takes[2] = failed(takes[2])

    assert "✅ Done · 3 takes · 1 of 3 failed" in shown(status_card(takes, STYLE))


def test_a_compare_names_each_model_with_its_cost() -> None:
    group = compare_of("kling-v3", "veo-3.1", "wan-2.6")

    card = status_card(group, STYLE)

    seen = shown(card)
    assert "3 models compared" in seen
    assert "**Kling 3.0** · 10 credits" in seen and "**Veo 3.1** · 20 credits" in seen
    assert "60 credits" in seen  # the total
    accepted_by_discord(card)


# ---- the result message -----------------------------------------------------------------------------------------


def delivered(render: RenderRecord, minutes: int = 1) -> RenderRecord:
    start = render.created_at
    return replace(
        render,
        state=RenderState.DELIVERED,
        result_message_id=77,
        submitted_at=start,
        finished_at=start + timedelta(minutes=minutes, seconds=3),
    )


def test_every_take_in_one_gallery_labelled_with_its_own_buttons() -> None:
    takes = [delivered(t) for t in group_of(4)]
    files = {t.id: f"clip-{t.take_index}.mp4" for t in takes}

    message = result_message(takes, STYLE, files=files)

    accepted_by_discord(message, list(files.values()))
    items = gallery_items(components(message))
    assert [(i["media"]["url"], i["description"]) for i in items] == [
        (f"attachment://clip-{n}.mp4", f"Take {n} · seed {100 + n}") for n in range(1, 5)
    ]
    seen = shown(message)
    assert f"<@{takes[0].user_id}> your 4 takes" in seen
    assert "**Take 2** · seed 102 · rendered in 1 min 3 s" in seen
    labels = button_labels(message)
    assert labels.count(text.REGENERATE) == 4 and labels.count(text.DELETE) == 4
    ids = [c["custom_id"] for c in walk(components(message)) if c.get("custom_id")]
    assert all(any(t.id in cid for cid in ids if cid.startswith("video:delete:")) for t in takes)


def test_a_failed_take_is_shown_failed_with_its_refund_and_a_take_to_come_as_coming() -> None:
    takes = group_of(3)
    takes[0] = delivered(takes[0])
    takes[1] = failed(takes[1])

    message = result_message(takes, STYLE, files={takes[0].id: "one.mp4"})

    accepted_by_discord(message, ["one.mp4"])
    seen = shown(message)
    assert "**Take 2** · seed 102: failed: ModelStream refused the request" in seen
    assert "16 credits refunded." in seen
    assert f"**Take 3** · seed 103: {text.RESULT_PENDING}" in seen
    assert len(gallery_items(components(message))) == 1
    assert button_labels(message).count(text.REGENERATE) == 2  # the clip's own, and the failed take's


def test_four_takes_with_the_longest_reasons_stay_within_discords_limits() -> None:
    takes = [failed(t) for t in group_of(4, replace(veo_request(), prompt=WORST_PROMPT))]
    takes[0] = delivered(group_of(4)[0])

    message = result_message(takes, STYLE, files={takes[0].id: "one.mp4"})

    accepted_by_discord(message, ["one.mp4"])


def test_a_compare_labels_each_clip_by_model_with_cost_and_render_time() -> None:
    group = [delivered(r, minutes=n) for n, r in enumerate(compare_of("kling-v3", "veo-3.1"), start=1)]
    files = {r.id: f"{r.request.model}.mp4" for r in group}

    message = result_message(group, STYLE, files=files)

    accepted_by_discord(message, list(files.values()))
    assert [i["description"] for i in gallery_items(components(message))] == [
        "Kling 3.0 · 10 credits",
        "Veo 3.1 · 20 credits",
    ]
    seen = shown(message)
    assert "your comparison of 2 models" in seen
    assert "**Kling 3.0** · 10 credits · rendered in 1 min 3 s" in seen
    assert "**Veo 3.1** · 20 credits · rendered in 2 min 3 s" in seen


def test_a_lone_clip_is_the_file_the_mention_and_its_buttons() -> None:
    render = delivered(render_of(veo_request()))

    message = result_message([render], STYLE, files={render.id: "clip.mp4"})

    assert texts(components(message)) == [f"<@{render.user_id}> your video is ready!"]
    assert [i.get("description") for i in gallery_items(components(message))] == [None]
    assert button_labels(message)[0] == text.REGENERATE
    accepted_by_discord(message, ["clip.mp4"])


def test_deleted_takes_are_left_out_and_a_clip_too_large_is_linked() -> None:
    takes = [delivered(t) for t in group_of(2)]
    takes[1] = replace(takes[1], fallback="link", video_url="https://cdn.example/take-2.mp4")

    message = result_message(takes, STYLE, files={}, removed={takes[0].id})

    seen = shown(message)
    assert "Take 1" not in seen
    assert "too large to upload here: https://cdn.example/take-2.mp4" in seen
    assert text.DELETE in button_labels(message)
    accepted_by_discord(message)


def test_a_link_too_long_to_show_whole_is_not_cut_and_no_web_link_is_said_so() -> None:
    takes = [delivered(t) for t in group_of(3)]
    takes[0] = replace(takes[0], fallback="link", video_url="https://cdn.example/" + "a" * 5000)
    takes[1] = replace(takes[1], fallback="link", video_url="javascript:alert(1)")
    takes[2] = replace(takes[2], fallback="link", video_url="https://cdn.example/" + "b" * 700)

    message = result_message(takes, STYLE, files={})

    seen = shown(message)
    assert "its link is too long to post" in seen and "aaaa" not in seen
    assert text.RESULT_NO_LINK in seen and "javascript" not in seen
    assert "https://cdn.example/" + "b" * 700 in seen  # whole
    accepted_by_discord(message)


def test_a_render_in_line_shows_when_it_should_start_from_measured_times() -> None:
    typical = Estimate(median=120.0, p90=180.0, low=90.0, samples=20, kind=RenderKind("veo-3.1", "std", 8), exact=True)
    style = replace(STYLE, estimate=lambda request: typical, slots=2)
    third = render_of(veo_request(), state=RenderState.ACCEPTED, queue_place=3)

    seen = shown(status_card([third], style))

    assert "3rd in line" in seen
    assert "Expected to start in about 3 min." in seen  # 3 renders ahead to go, 2 at a time, 2 min each
    assert "Expected to start" not in shown(status_card([third], replace(style, estimate=lambda request: None)))
    assert "Expected to start" not in shown(status_card([third], replace(style, slots=None)))
