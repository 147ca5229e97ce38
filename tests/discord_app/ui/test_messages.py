"""Messages carrying untrusted text, at Discord's limits: storyboard previews, link messages and DMs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.discord_app.ui import fit, text
from bot.discord_app.ui.messages import clip_link, requester_dm, storyboard_fix, storyboard_preview
from bot.domain.request import Shot
from bot.domain.states import FailureKind, RenderState
from bot.domain.storyboard import MAX_SHOT_PROMPT_CHARS, MAX_SHOTS
from tests.discord_app.ui.test_status import render_of
from tests.storage.builders import USER, video_request

RENDER_TIMEOUT = 3600.0
SECRET_KEY = "sk-live-0123456789abcdefghij"


def long_url(length: int) -> str:
    head = "https://cdn.example.com/v/clip.mp4?sig="
    return head + "a" * (length - len(head))


def full_shots(letter: str = "x") -> tuple[Shot, ...]:
    return tuple(Shot(f"Shot {n} starts here " + letter * MAX_SHOT_PROMPT_CHARS, 2) for n in range(1, 7))


def fitted(shots: tuple[Shot, ...]) -> tuple[Shot, ...]:
    return tuple(Shot(shot.prompt[:MAX_SHOT_PROMPT_CHARS], shot.duration) for shot in shots)


# ---- the storyboard preview --------------------------------------------------------------------------------


def test_a_short_storyboard_preview_shows_every_shot_whole() -> None:
    shots = (Shot("Wide shot: a lighthouse at dusk, waves crashing", 3), Shot("Close-up: its lamp flickers on", 2))

    preview = storyboard_preview(shots, total=5, cost=5)

    assert preview == (
        "**Storyboard** (2 shots, 5 s):\n"
        "1. (3 s) Wide shot: a lighthouse at dusk, waves crashing\n"
        "2. (2 s) Close-up: its lamp flickers on\n"
        "Total: 5 s\n\n"
        "Cost: **5 credits**. Send it?"
    )


@pytest.mark.parametrize("letter", ["x", "*", "_~", "@everyone "])
def test_six_shots_of_512_characters_fit_one_message(letter: str) -> None:
    shots = fitted(full_shots(letter))
    assert len(shots) == MAX_SHOTS and all(len(shot.prompt) == MAX_SHOT_PROMPT_CHARS for shot in shots)

    preview = storyboard_preview(shots, total=12, cost=24)

    assert fit.size(preview) <= fit.CONTENT_LIMIT
    for number in range(1, 7):
        assert f"{number}. (2 s) Shot {number} starts here" in preview
    assert text.STORYBOARD_SHORTENED in preview
    assert preview.endswith("Cost: **24 credits**. Send it?")
    assert "@everyone" not in preview


def test_a_long_shot_is_cut_but_short_ones_stay_whole() -> None:
    shots = (Shot("y" * 3000, 3), *(Shot(f"short shot {n}", 2) for n in range(2, 7)))

    preview = storyboard_preview(shots, total=13, cost=13)

    assert fit.size(preview) <= fit.CONTENT_LIMIT
    for number in range(2, 7):
        assert f"{number}. (2 s) short shot {number}\n" in preview
    assert "1. (3 s) yyyy" in preview


def test_a_preview_exactly_at_the_limit_is_not_shortened() -> None:
    base = storyboard_preview((Shot("", 5),), total=5, cost=5)
    shots = (Shot("z" * (fit.CONTENT_LIMIT - fit.size(base)), 5),)

    preview = storyboard_preview(shots, total=5, cost=5)

    assert fit.size(preview) == fit.CONTENT_LIMIT
    assert text.STORYBOARD_SHORTENED not in preview
    assert shots[0].prompt in preview


def test_a_preview_one_over_the_limit_is_shortened() -> None:
    base = storyboard_preview((Shot("", 5),), total=5, cost=5)
    shots = (Shot("z" * (fit.CONTENT_LIMIT - fit.size(base) + 1), 5),)

    preview = storyboard_preview(shots, total=5, cost=5)

    assert fit.size(preview) <= fit.CONTENT_LIMIT
    assert text.STORYBOARD_SHORTENED in preview


def test_a_storyboard_error_of_any_length_fits_and_says_how_to_go_on() -> None:
    message = storyboard_fix("Shot 3: " + "w" * 5000)

    assert fit.size(message) <= fit.CONTENT_LIMIT
    assert message.startswith("Shot 3: www")
    assert message.endswith("Press **Edit storyboard** to fix it; your text is kept.")


# ---- the link to a clip too large to upload --------------------------------------------------------------


def test_a_link_message_names_the_size_and_gives_the_link() -> None:
    url = "https://cdn.example.com/v/clip.mp4?sig=abc"

    assert clip_link(USER, url, 52_428_800) == text.CLIP_LINK.format(user=USER, url=url, size="50.0 MB")


def test_a_link_message_exactly_at_the_limit_keeps_its_sentence() -> None:
    frame = fit.size(text.CLIP_LINK.format(user=USER, url="", size="over the limit"))
    url = long_url(fit.CONTENT_LIMIT - frame)

    message = clip_link(USER, url, None)

    assert fit.size(message) == fit.CONTENT_LIMIT
    assert message == text.CLIP_LINK.format(user=USER, url=url, size="over the limit")


def test_a_link_too_long_for_the_sentence_is_sent_bare_with_the_mention() -> None:
    frame = fit.size(text.CLIP_LINK.format(user=USER, url="", size="over the limit"))
    url = long_url(fit.CONTENT_LIMIT - frame + 1)

    message = clip_link(USER, url, None)

    assert message == f"<@{USER}> your video: {url}"
    assert fit.size(message) <= fit.CONTENT_LIMIT


def test_a_link_longer_than_any_message_is_not_sent_and_says_why() -> None:
    message = clip_link(USER, long_url(2100), None)

    assert message == text.CLIP_LINK_TOO_LONG.format(user=USER)
    assert "https://" not in message


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", "ftp://cdn.example.com/x.mp4", "https://x.test/a b"])
def test_no_web_link_means_the_no_link_message(url: str | None) -> None:
    assert clip_link(USER, url, None) == text.CLIP_NO_LINK.format(user=USER)


# ---- DMs to the requester ------------------------------------------------------------------------------------


def test_a_failure_dm_with_a_long_prompt_and_a_long_api_reason_fits_and_leaks_nothing() -> None:
    reason = f"**Blocked** by upstream, key {SECRET_KEY}, Bearer abcdefghijklmnopqrstuvwxyz @everyone " + "r" * 5000
    request = replace(video_request(), prompt="p" * 2500)
    render = render_of(
        request, RenderState.FAILED, failure_kind=FailureKind.RENDER_FAILED, failure_detail=reason, cost=30
    )

    dm = requester_dm(render, url=None, render_timeout=RENDER_TIMEOUT)

    assert fit.size(dm) <= fit.CONTENT_LIMIT
    assert dm.startswith("Your video for “ppp")
    assert "The render failed at ModelStream: \\*\\*Blocked\\*\\* by upstream" in dm
    assert SECRET_KEY not in dm and "abcdefghijklmnopqrstuvwxyz" not in dm
    assert "@everyone" not in dm
    assert dm.endswith(text.REFUNDED.format(cost=30))


def test_a_clip_dm_with_a_long_prompt_and_a_link_gives_the_link() -> None:
    render = render_of(replace(video_request(), prompt="q" * 2500), RenderState.DELIVERED)
    url = "https://cdn.example.com/v/clip.mp4"

    dm = requester_dm(render, url=url, render_timeout=RENDER_TIMEOUT)

    assert dm.endswith(url)
    assert fit.size(dm) <= 400  # the prompt is quoted short: the DM is about the clip


def test_a_clip_dm_whose_link_is_too_long_for_the_sentence_sends_the_bare_link() -> None:
    render = render_of(replace(video_request(), prompt="q" * 2500), RenderState.DELIVERED)
    url = long_url(fit.CONTENT_LIMIT - fit.size("Your video: "))

    dm = requester_dm(render, url=url, render_timeout=RENDER_TIMEOUT)

    assert dm == f"Your video: {url}"
    assert fit.size(dm) == fit.CONTENT_LIMIT


def test_a_clip_dm_at_exactly_the_limit_keeps_its_sentence() -> None:
    render = render_of(video_request(), RenderState.DELIVERED)
    frame = fit.size(text.DM_CLIP.format(prompt=fit.quote(render.request.prompt, 200), link=""))
    url = long_url(fit.CONTENT_LIMIT - frame)

    dm = requester_dm(render, url=url, render_timeout=RENDER_TIMEOUT)

    assert fit.size(dm) == fit.CONTENT_LIMIT
    assert dm.startswith("Your video for “a red fox")


def test_a_clip_dm_whose_link_is_longer_than_any_message_says_so() -> None:
    render = render_of(video_request(), RenderState.DELIVERED)

    dm = requester_dm(render, url=long_url(2100), render_timeout=RENDER_TIMEOUT)

    assert dm == text.DM_CLIP_LINK_TOO_LONG.format(prompt="a red fox running through snow")


def test_a_clip_dm_with_a_link_that_is_not_a_web_link_gives_none() -> None:
    render = render_of(video_request(), RenderState.DELIVERED)

    dm = requester_dm(render, url="javascript:alert(document.cookie)", render_timeout=RENDER_TIMEOUT)

    assert dm == text.DM_CLIP_NO_LINK.format(prompt="a red fox running through snow")
