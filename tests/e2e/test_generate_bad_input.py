"""Every rule of PRODUCT.md §1, broken on purpose: the member gets an ephemeral reply naming the option and what
to change, nothing reaches the API and nothing is posted in the channel.

The interactions are crafted, so Discord's own client-side limits (ranges, choices, lengths) do not stand in the
way: the bot's validation is what answers. One bot process serves the whole module (nothing here is accepted, so
the tests cannot disturb each other).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.conftest import API_KEY, BACKENDS, World, bot_database, image_bytes
from tests.fakes.discord import AttachmentSpec, FakeDiscord
from tests.fakes.video_api import FakeVideoApi

pytestmark = pytest.mark.asyncio(loop_scope="module")

MIB = 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    workdir = tmp_path_factory.mktemp("bad-input")
    async with (
        bot_database(request.param, workdir) as database,
        FakeDiscord() as discord,
        FakeVideoApi(api_key=API_KEY) as api,
    ):
        shared = World(discord, api, workdir, database)
        await shared.start_bot()
        try:
            yield shared
        finally:
            assert shared.bot is not None
            await shared.bot.stop()
            assert API_KEY not in shared.bot.output(), "the API key leaked into the bot's output"
            assert discord.token not in shared.bot.output(), "the Discord token leaked into the bot's output"


def png(width: int = 640, height: int = 360) -> Callable[[], AttachmentSpec]:
    return lambda: AttachmentSpec("picture.png", image_bytes(width, height), "image/png")


def gif_named_png() -> AttachmentSpec:
    return AttachmentSpec("totally-a-photo.png", image_bytes(640, 360, "GIF"), "image/png")


def over_ten_megabytes() -> AttachmentSpec:
    data = image_bytes(640, 360)
    return AttachmentSpec("huge.png", data + b"\0" * (10 * MIB + 1 - len(data)), "image/png")


@dataclass(frozen=True)
class Case:
    """One broken rule: the options sent, the attachments (built lazily) and what the reply must say."""

    options: dict[str, Any]
    says: tuple[str, ...]
    attachments: dict[str, Callable[[], AttachmentSpec]] = field(default_factory=dict)


LONG = "x" * 2501

CASES: dict[str, Case] = {
    "prompt_empty": Case({"prompt": ""}, ("`prompt` is empty", "describe what the clip should show")),
    "prompt_whitespace": Case({"prompt": "   \n "}, ("`prompt` is empty", "describe what the clip should show")),
    "prompt_too_long": Case({"prompt": LONG}, ("`prompt` is 2501 characters long", "Shorten it by 1 characters")),
    "duration_too_short": Case(
        {"prompt": "a cat", "duration": 2}, ("`duration` must be 3–15 s for Kling 3.0 (`kling-v3`)", "you gave 2 s")
    ),
    "duration_too_long": Case(
        {"prompt": "a cat", "duration": 16}, ("`duration` must be 3–15 s for Kling 3.0 (`kling-v3`)", "you gave 16 s")
    ),
    "cfg_scale_above_one": Case({"prompt": "a cat", "cfg_scale": 1.5}, ("`cfg_scale` must be between 0 and 1",)),
    "cfg_scale_negative": Case({"prompt": "a cat", "cfg_scale": -0.5}, ("`cfg_scale` must be between 0 and 1",)),
    "negative_prompt_too_long": Case(
        {"prompt": "a cat", "negative_prompt": LONG}, ("`negative_prompt` is 2501 characters long", "Shorten it")
    ),
    "takes_zero": Case({"prompt": "a cat", "takes": 0}, ("`takes` must be between 1 and 4",)),
    "takes_five": Case({"prompt": "a cat", "takes": 5}, ("`takes` must be between 1 and 4",)),
    "mode_unknown": Case({"prompt": "a cat", "mode": "ultra"}, ("`mode` must be `std`", "or `pro`", "`ultra`")),
    "aspect_ratio_unknown": Case(
        {"prompt": "a cat", "aspect_ratio": "5:4"}, ("`aspect_ratio` must be one of `16:9`, `9:16`, `1:1`", "`5:4`")
    ),
    "aspect_ratio_the_model_does_not_take": Case(
        {"prompt": "a cat", "aspect_ratio": "4:3"},
        ("Kling 3.0 (`kling-v3`) doesn't take `aspect_ratio` `4:3`", "Models that take `4:3`"),
    ),
    "generation_mode_unknown": Case(
        {"prompt": "a cat", "generation_mode": "video"},
        ("`generation_mode` must be `text`, `image` or `reference`", "`video`"),
    ),
    "text_mode_with_first_frame": Case(
        {"prompt": "a cat", "generation_mode": "text"},
        ("`generation_mode` is `text` but you attached `first_frame`", "one mode at a time", "Remove the attach"),
        {"first_frame": png()},
    ),
    "image_mode_without_first_frame": Case(
        {"prompt": "a cat", "generation_mode": "image"},
        ("`generation_mode` is `image` but no `first_frame` is attached", "attach the start frame"),
    ),
    "reference_mode_without_references": Case(
        {"prompt": "a cat", "generation_mode": "reference"},
        ("`generation_mode` is `reference` but no reference image is attached", "attach `reference_1`"),
    ),
    "frames_and_references_together": Case(
        {"prompt": "<<<image_1>>> runs"},
        ("`first_frame`", "`reference_1`", "one mode at a time", "Remove the frames for reference mode"),
        {"first_frame": png(), "reference_1": png()},
    ),
    "last_frame_without_first_frame": Case(
        {"prompt": "a cat"},
        ("`last_frame` needs a `first_frame`", "attach a start frame too"),
        {"last_frame": png()},
    ),
    "last_frame_with_multi_shot": Case(
        {"prompt": "a cat", "multi_shot": True},
        ("`last_frame` can't be used with `multi_shot`", "Remove `last_frame`"),
        {"first_frame": png(), "last_frame": png()},
    ),
    "reference_not_mentioned": Case(
        {"prompt": "a knight in a castle"},
        ("`reference_1` is attached but `prompt` never mentions it", "add `<<<image_1>>>`"),
        {"reference_1": png()},
    ),
    "mention_without_reference": Case(
        {"prompt": "<<<image_1>>> meets <<<image_2>>>"},
        ("`prompt` mentions `<<<image_2>>>` but no `reference_2` is attached", "remove the mention"),
        {"reference_1": png()},
    ),
    "reference_gap": Case(
        {"prompt": "<<<image_1>>> meets <<<image_3>>>"},
        ("`reference_3` is attached but `reference_2` is not", "in order without gaps"),
        {"reference_1": png(), "reference_3": png()},
    ),
    "attachment_not_png_or_jpeg_by_its_bytes": Case(
        {"prompt": "a cat"}, ("`first_frame` is a GIF", "attach a PNG or JPEG"), {"first_frame": gif_named_png}
    ),
    "attachment_over_10_mb": Case(
        {"prompt": "a cat"},
        ("`first_frame` is 10.1 MB", "10 MB or smaller", "Attach a smaller file"),
        {"first_frame": over_ten_megabytes},
    ),
    "attachment_side_under_300_px": Case(
        {"prompt": "a cat"}, ("`first_frame` is 299×400 px", "at least 300 px"), {"first_frame": png(299, 400)}
    ),
    "attachment_too_wide": Case(
        {"prompt": "a cat"},
        ("`first_frame` is 900×300 px", "between 1:2.5 and 2.5:1", "Crop it closer to square"),
        {"first_frame": png(900, 300)},
    ),
    "attachment_too_tall": Case(
        {"prompt": "<<<image_1>>> stands"},
        ("`reference_1` is 300×800 px", "between 1:2.5 and 2.5:1"),
        {"reference_1": png(300, 800)},
    ),
}


def assert_nothing_happened(world: World) -> None:
    assert world.create_calls() == 0
    assert world.channel_messages() == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_broken_rule_is_explained_and_nothing_is_sent(world: World, case: Case) -> None:
    attachments = {option: build() for option, build in case.attachments.items()}

    interaction = await world.slash("generate", options=case.options, attachments=attachments)

    reply = await world.ephemeral_reply(interaction, timeout=20)
    for fragment in case.says:
        assert fragment in reply
    assert world.discord.callbacks(interaction)[0].ephemeral
    assert_nothing_happened(world)


# ---- the storyboard's own rules, answered after the modal ----------------------------------------------

STORYBOARDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "more_than_six_shots": ("\n".join(f"1 | shot {n}" for n in range(1, 8)), ("7 shots; the limit is 6",)),
    "shot_prompt_over_512": (f"3 | {'y' * 513}\n2 | end", ("Shot 1", "513 characters long; the limit is 512")),
    "shot_under_one_second": ("3 | start\n0 | blink", ("Shot 2", "at least 1 second; you gave 0")),
    "shots_over_15_seconds": ("8 | start\n8 | end", ("add up to 16 s", "must be 3–15 s")),
    "shot_without_seconds": ("a lighthouse at dusk", ("Shot 1", "`<seconds> | <prompt>`")),
}


def text_input(modal: dict[str, Any]) -> dict[str, Any]:
    rows = modal["components"]
    return next(c for row in rows for c in row.get("components", [row.get("component", {})]) if c.get("type") == 4)


@pytest.mark.parametrize(("text", "says"), STORYBOARDS.values(), ids=STORYBOARDS.keys())
async def test_broken_storyboard_is_explained_and_nothing_is_sent(
    world: World, text: str, says: tuple[str, ...]
) -> None:
    opened = await world.slash("generate", options={"prompt": "a lighthouse", "multi_shot": True})
    await world.discord.wait_callback(opened)
    modal = world.discord.modal(opened)
    assert modal is not None

    submitted = await world.discord.send_modal_submit(modal["custom_id"], {text_input(modal)["custom_id"]: text})

    reply = await world.ephemeral_reply(submitted)
    for fragment in says:
        assert fragment in reply
    assert "your text is kept" in reply
    assert_nothing_happened(world)
