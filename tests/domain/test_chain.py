"""Continue's rules: which model renders the next shot, what carries over, and what a chain is."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from typing import Any

import pytest

from bot.domain.chain import ChainLink, can_stitch, chain_order, continuation_request, parse_duration
from bot.domain.errors import RequestValidationError
from bot.domain.models import SHIPPED_MODELS, ModelTable, load_model_table, parse_model_table
from bot.domain.render import RenderRecord
from bot.domain.request import (
    AspectRatio,
    ChannelDefaults,
    GenerationMode,
    QualityMode,
    VideoRequest,
)
from bot.domain.states import RenderState
from bot.domain.validation import ModelChoice
from tests.storage.builders import T0

MODELS = load_model_table()


def clip_request(**changes: Any) -> VideoRequest:
    request = VideoRequest(
        prompt="a paper boat on a river",
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.PRO,
        duration=7,
        aspect_ratio=AspectRatio.WIDE,
        negative_prompt="rain",
        cfg_scale=0.7,
        model="kling-v3",
        sound=True,
    )
    return replace(request, **changes)


def table_where(change: Any) -> ModelTable:
    with SHIPPED_MODELS.open("rb") as handle:
        data = tomllib.load(handle)
    change(data["models"])
    return parse_model_table(data)


def continued(parent: VideoRequest, choice: ModelChoice, *, duration: str | None = "") -> VideoRequest:
    return continuation_request(
        parent, prompt="the boat reaches the sea", duration=duration, choice=choice, defaults=ChannelDefaults()
    )


def test_the_next_shot_is_image_mode_on_the_same_model_with_the_clips_settings() -> None:
    request = continued(clip_request(), ModelChoice(MODELS, "kling-v3"))

    assert request.prompt == "the boat reaches the sea"
    assert (request.model, request.generation_mode, request.aspect_ratio) == ("kling-v3", GenerationMode.IMAGE, None)
    assert (request.mode, request.duration, request.negative_prompt) == (QualityMode.PRO, 7, "rain")
    assert (request.cfg_scale, request.sound, request.takes) == (0.7, True, 1)
    assert request.notes == ()


def test_a_duration_typed_in_the_modal_replaces_the_clips_length() -> None:
    request = continued(clip_request(), ModelChoice(MODELS, "kling-v3"), duration=" 12 ")

    assert request.duration == 12


def test_a_duration_the_model_does_not_take_is_refused_naming_the_range() -> None:
    with pytest.raises(RequestValidationError) as refused:
        continued(clip_request(), ModelChoice(MODELS, "kling-v3"), duration="40")

    assert refused.value.option == "duration"
    assert "3–15 s" in refused.value.message


@pytest.mark.parametrize("typed", ["five", "5.5", "-3", "12345"])
def test_a_duration_that_is_not_whole_seconds_is_refused(typed: str) -> None:
    with pytest.raises(RequestValidationError, match="whole number of seconds"):
        parse_duration(typed)


def test_blank_and_suffixed_durations() -> None:
    assert parse_duration(None) is None
    assert parse_duration("   ") is None
    assert parse_duration("6s") == 6


def test_an_empty_prompt_is_refused_as_for_any_request() -> None:
    with pytest.raises(RequestValidationError, match="`prompt` is empty"):
        continuation_request(
            clip_request(), prompt="  ", duration="", choice=ModelChoice(MODELS, "kling-v3"), defaults=ChannelDefaults()
        )


def test_a_model_without_image_mode_hands_the_shot_to_the_default_model_and_says_so() -> None:
    def veo_text_only(models: dict[str, Any]) -> None:
        models["veo-3.1"]["ids"] = {"text": "veo-3.1"}

    table = table_where(veo_text_only)
    parent = clip_request(model="veo-3.1", duration=8, negative_prompt=None, cfg_scale=0.5, sound=True)

    request = continued(parent, ModelChoice(table, "kling-v3"))

    assert (request.model, request.generation_mode) == ("kling-v3", GenerationMode.IMAGE)
    # Nothing of the other model's settings is forced onto this one: its own defaults apply.
    assert (request.mode, request.duration) == (QualityMode.STD, 5)
    assert request.notes[0] == "Veo 3.1 (`veo-3.1`) has no image mode: Kling 3.0 (`kling-v3`) renders the next shot."


def test_a_model_turned_off_here_hands_the_shot_to_the_default_model() -> None:
    choice = ModelChoice(MODELS, "kling-v3", {"seedance-2.0": "it is turned off in this server"})

    request = continued(clip_request(model="seedance-2.0", cfg_scale=0.5, negative_prompt=None), choice)

    assert request.model == "kling-v3"
    assert "it is turned off in this server" in request.notes[0]


def test_no_model_with_image_mode_to_hand_it_to_is_refused() -> None:
    def text_only(models: dict[str, Any]) -> None:
        for key, entry in models.items():
            if key != "kling-v3":
                entry["enabled"] = False
        models["kling-v3"]["ids"] = {"text": "kling-v3"}

    with pytest.raises(RequestValidationError, match="I can't continue this clip"):
        continued(clip_request(), ModelChoice(table_where(text_only), "kling-v3"))


def test_settings_image_mode_does_not_take_are_left_to_the_model() -> None:
    # Wan 2.7 takes no cfg_scale: the stored default (0.5) is not sent back as if the member had chosen it.
    parent = clip_request(model="wan-2.7", sound=False, negative_prompt="fog", cfg_scale=0.5)

    request = continued(parent, ModelChoice(MODELS, "kling-v3"))

    assert (request.model, request.sound, request.negative_prompt) == ("wan-2.7", False, "fog")


def record(render_id: str, parent_id: str | None, position: int | None, guild_id: int = 1) -> RenderRecord:
    """A delivered clip as stored, with what a chain is made of."""
    return RenderRecord(
        id=render_id,
        group_id=render_id,
        take_index=1,
        takes=1,
        guild_id=guild_id,
        channel_id=2,
        user_id=3,
        request=clip_request(),
        state=RenderState.DELIVERED,
        cost=5,
        created_at=T0,
        updated_at=T0,
        created_day="2026-11-24",
        created_month="2026-11",
        task_id=None,
        request_id=None,
        progress=100,
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
        closed=True,
        approval_message_id=None,
        approval_reason=None,
        decided_by=None,
        parent_id=parent_id,
        chain_position=position,
    )


def test_a_link_counts_from_one_and_stitch_is_offered_from_the_second_clip_on() -> None:
    first = record("a" * 32, None, None)
    assert ChainLink.after(first) == ChainLink("a" * 32, 2)
    second = record("b" * 32, "a" * 32, 2)
    assert ChainLink.after(second) == ChainLink("b" * 32, 3)
    assert not can_stitch(first)
    assert not can_stitch(record("a" * 32, None, 1))
    assert can_stitch(second)


def test_another_take_of_a_continuation_continues_the_same_clip() -> None:
    assert ChainLink.of(record("b" * 32, "a" * 32, 2)) == ChainLink("a" * 32, 2)
    assert ChainLink.of(record("a" * 32, None, 1)) is None


def test_chain_order_is_first_clip_first_and_refuses_a_broken_chain() -> None:
    first, second, third = record("a" * 32, None, 1), record("b" * 32, "a" * 32, 2), record("c" * 32, "b" * 32, 3)

    assert chain_order(third, [second, first]) == [first, second, third]
    with pytest.raises(ValueError, match="broken"):
        chain_order(third, [first])
    with pytest.raises(ValueError, match="broken"):
        chain_order(third, [second])  # its first clip is missing
    with pytest.raises(ValueError, match="broken"):
        chain_order(third, [second, record("a" * 32, None, 1, guild_id=2)])
