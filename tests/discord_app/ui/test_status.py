"""The status card: what a member sees of a render in the channel, including which model made it and how."""

from __future__ import annotations

from dataclasses import replace

import discord

from bot.discord_app.ui import text
from bot.discord_app.ui.status import describe_settings, status_embed
from bot.domain.models import load_model_table
from bot.domain.render import RenderRecord
from bot.domain.request import AspectRatio, GenerationMode, QualityMode, VideoRequest
from bot.domain.states import FailureKind, RenderState
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
