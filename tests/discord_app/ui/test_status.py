"""The status card: what a member sees of a render in the channel, including which model made it and how."""

from __future__ import annotations

from dataclasses import replace

import discord
import pytest

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.status import PROMPT_LIMIT, describe_settings, status_embed
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.request import AspectRatio, GenerationMode, QualityMode, Shot, VideoRequest
from bot.domain.states import FailureKind, RenderState
from bot.domain.storyboard import MAX_SHOT_PROMPT_CHARS
from bot.domain.validation import MAX_PROMPT_CHARS
from tests.storage.builders import CHANNEL, GUILD, T0, USER, video_request

MODELS = load_model_table()
VEO = MODELS.get("veo-3.1")
KLING = MODELS.get("kling-v3")
RENDER_TIMEOUT = 3600.0


def veo_request() -> VideoRequest:
    return VideoRequest(
        prompt="a lighthouse in a storm",
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.PRO,
        duration=8,
        aspect_ratio=AspectRatio.WIDE,
        model="veo-3.1",
        sound=True,
        seed=7,
    )


def render_of(request: VideoRequest, state: RenderState = RenderState.QUEUED, **fields: object) -> RenderRecord:
    record = RenderRecord(
        id="0123456789abcdef0123456789abcdef",
        group_id="fedcba9876543210fedcba9876543210",
        take_index=1,
        takes=1,
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        request=request,
        state=state,
        cost=48,
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
    return replace(record, **fields)  # type: ignore[arg-type]


def field(embed: discord.Embed, name: str) -> str:
    [value] = [f.value for f in embed.fields if f.name == name]
    assert value is not None
    return value


def test_settings_line_names_the_model_its_resolution_the_sound_and_the_seed() -> None:
    assert describe_settings(veo_request(), VEO) == "Veo 3.1 · text · pro (1080p) · 8 s · 16:9 · sound · seed 7"


def test_settings_line_says_when_a_model_with_a_sound_switch_is_silent() -> None:
    request = replace(video_request(), sound=False)

    assert describe_settings(request, KLING) == "Kling 3.0 · text · std (720p) · 5 s · 16:9 · no sound"


def test_settings_line_leaves_out_sound_and_seed_a_model_has_no_say_in() -> None:
    # sound None: the model has no switch; seed None: it takes none.
    request = replace(video_request(), model="wan-2.7", sound=None, seed=None)

    assert describe_settings(request, MODELS.get("wan-2.7")) == "Wan 2.7 · text · std (720p) · 5 s · 16:9"


def test_settings_line_of_a_model_gone_from_the_table_shows_its_key() -> None:
    assert describe_settings(veo_request()) == "veo-3.1 · text · pro · 8 s · 16:9 · sound · seed 7"


def test_status_card_shows_the_settings_line_with_the_model() -> None:
    embed = status_embed(render_of(veo_request()), render_timeout=RENDER_TIMEOUT, model=VEO)

    assert field(embed, "Settings") == "Veo 3.1 · text · pro (1080p) · 8 s · 16:9 · sound · seed 7"
    assert field(embed, "Cost") == "48 credits"


def test_status_card_of_a_model_the_gateway_cannot_serve_says_to_pick_another_and_refunds() -> None:
    render = render_of(
        veo_request(), RenderState.FAILED, failure_kind=FailureKind.MODEL_UNAVAILABLE, failure_detail="Veo 3.1"
    )

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=VEO)

    why = field(embed, "Why")
    assert why.startswith("ModelStream can't run Veo 3.1 right now. Pick another model with `model`")
    assert field(embed, "Credits") == text.REFUNDED.format(cost=48)


def test_status_card_of_a_request_the_model_table_cannot_send_says_why_and_refunds() -> None:
    render = render_of(
        veo_request(),
        RenderState.FAILED,
        failure_kind=FailureKind.MODEL_MISCONFIGURED,
        failure_detail="`veo-3.1` (text mode) is no longer in it",
    )

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=None)

    assert field(embed, "Why") == (
        "The bot's model table can't send this request (`veo-3.1` (text mode) is no longer in it). A server admin "
        "needs to fix the table; meanwhile pick another model."
    )
    assert field(embed, "Credits") == text.REFUNDED.format(cost=48)


def test_status_card_of_a_finished_render_without_a_video_says_so_and_refunds() -> None:
    render = render_of(veo_request(), RenderState.FAILED, failure_kind=FailureKind.NO_VIDEO, progress=100)

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=VEO)

    assert field(embed, "Why").startswith("ModelStream reported the render finished but has no video to give")
    assert field(embed, "Credits") == text.REFUNDED.format(cost=48)


# ---- within Discord's embed limits whatever was typed or answered --------------------------------------------


def embed_within_limits(embed: discord.Embed) -> None:
    assert fit.size(embed.title or "") <= fit.EMBED_TITLE_LIMIT
    assert fit.size(embed.description or "") <= fit.EMBED_DESCRIPTION_LIMIT
    for item in embed.fields:
        assert fit.size(item.name or "") <= fit.FIELD_NAME_LIMIT
        assert fit.size(item.value or "") <= fit.FIELD_VALUE_LIMIT
    assert fit.size(embed.footer.text or "") <= fit.FOOTER_LIMIT
    assert len(embed) <= fit.EMBED_TOTAL_LIMIT


def worst_storyboard(letter: str) -> VideoRequest:
    shots = tuple(Shot((f"Shot {n} " + letter * MAX_SHOT_PROMPT_CHARS)[:MAX_SHOT_PROMPT_CHARS], 2) for n in range(1, 7))
    return replace(video_request(), prompt=(letter * MAX_PROMPT_CHARS)[:MAX_PROMPT_CHARS], multi_shot=True, shots=shots)


@pytest.mark.parametrize("letter", ["x", "*_", "@everyone ", "😀"])
def test_a_failed_storyboard_card_with_everything_at_its_longest_fits(letter: str) -> None:
    reason = (letter + " upstream failure ") * 400
    render = render_of(
        worst_storyboard(letter),
        RenderState.FAILED,
        failure_kind=FailureKind.RENDER_FAILED,
        failure_detail=reason,
        takes=4,
        take_index=4,
    )

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=KLING)

    embed_within_limits(embed)
    shots = field(embed, "Storyboard")
    for number in range(1, 7):
        assert f"{number}. (2 s) Shot {number}" in shots
    assert "@everyone" not in shots and "@everyone" not in (embed.description or "")
    assert field(embed, "Credits") == text.REFUNDED.format(cost=48)


def test_short_storyboard_shots_are_shown_whole_on_the_card() -> None:
    shots = (Shot("Wide shot: a lighthouse at dusk", 3), Shot("Close-up: its *lamp* flickers on", 2))
    render = render_of(replace(video_request(), multi_shot=True, shots=shots))

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=KLING)

    assert (
        field(embed, "Storyboard")
        == "1. (3 s) Wide shot: a lighthouse at dusk\n2. (2 s) Close-up: its \\*lamp\\* flickers on"
    )


def test_a_failure_reason_from_the_api_is_escaped_scrubbed_and_pings_nobody() -> None:
    detail = "**Rejected** for <@123456789012345678> @here: key sk-abcdefghijklmnop1234 Bearer tok_abcdefghijkl"
    render = render_of(
        video_request(), RenderState.FAILED, failure_kind=FailureKind.API_REJECTED, failure_detail=detail
    )

    why = field(status_embed(render, render_timeout=RENDER_TIMEOUT, model=KLING), "Why")

    assert why.startswith("ModelStream refused the request: \\*\\*Rejected\\*\\* for ")
    assert "<@123456789012345678>" not in why and "@here" not in why
    assert "sk-abcdefghijklmnop1234" not in why and "tok_abcdefghijkl" not in why
    assert why.endswith("Change the prompt or settings and try again.")


def test_a_failure_reason_from_the_api_is_cut_short_but_the_sentence_ends() -> None:
    render = render_of(
        video_request(), RenderState.FAILED, failure_kind=FailureKind.RENDER_FAILED, failure_detail="e" * 5000
    )

    why = field(status_embed(render, render_timeout=RENDER_TIMEOUT, model=KLING), "Why")

    assert why == f"The render failed at ModelStream: {'e' * (text.FAILURE_DETAIL_LIMIT - 1)}…."


def test_the_bots_own_failure_detail_keeps_its_markdown() -> None:
    render = render_of(
        video_request(), RenderState.FAILED, failure_kind=FailureKind.MODEL_MISCONFIGURED, failure_detail="`x` is gone"
    )

    why = field(status_embed(render, render_timeout=RENDER_TIMEOUT, model=None), "Why")

    assert "(`x` is gone)" in why


def test_the_prompt_on_the_card_is_at_most_a_thousand_characters_once_escaped() -> None:
    render = render_of(replace(video_request(), prompt="_" * MAX_PROMPT_CHARS))

    embed = status_embed(render, render_timeout=RENDER_TIMEOUT, model=KLING)

    assert fit.size(embed.description or "") <= PROMPT_LIMIT
    assert (embed.description or "").startswith("\\_\\_")
