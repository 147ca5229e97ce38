"""Every shipped model end to end: `/video generate model:<key>` through the real bot process to a clip in the channel.

Per model and generation mode (text, image, reference where the model has it) the create body the fake gateway
received is compared as a whole with the one modelstream-models.md describes: the API model id of the mode, every
option at its path with its value, images as bare base64 (Kling), a data URI (Seedance, Veo) or the attachment's
Discord URL (Wan, HappyHorse, Vidu). The fake gateway checks the body against its own schema of each model and
reports what it would have dropped: nothing may be. The first reply shows the model's cost; the status card its
settings; the clip is delivered (Veo's from /v1/videos/{id}/content).

Options a model does not take are refused ephemerally, naming the option and the model, before any call or
reservation. One bot process serves the module: every request carries a tag of its own in the prompt, so each
test finds its own create call and status message.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.conftest import (
    API_KEY,
    BACKENDS,
    World,
    bot_database,
    embed_text,
    image_bytes,
    is_card,
    replies_to,
    wait_title,
)
from tests.e2e.test_generate import button, components_of
from tests.fakes.discord import AttachmentSpec, FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.video_api import FakeVideoApi, RecordedRequest

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Sizes of the attachments by option: each image differs, so a swapped frame or reference shows.
SIZES = {
    "first_frame": (640, 360),
    "last_frame": (800, 450),
    "reference_1": (500, 500),
    "reference_2": (600, 400),
    "reference_3": (400, 600),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    workdir = tmp_path_factory.mktemp("models")
    async with (
        bot_database(request.param, workdir) as database,
        FakeDiscord() as discord,
        FakeVideoApi(api_key=API_KEY) as api,
    ):
        api.configure(render_polls=1, video_size=20_000)
        shared = World(discord, api, workdir, database)
        await shared.start_bot(DEFAULT_DAILY_CREDITS="unlimited", MAX_IN_FLIGHT_PER_MEMBER="unlimited")
        try:
            yield shared
        finally:
            assert shared.bot is not None
            await shared.bot.stop()
            assert API_KEY not in shared.bot.output(), "the API key leaked into the bot's output"
            assert discord.token not in shared.bot.output(), "the Discord token leaked into the bot's output"


# ---- helpers: one request, found by its tag ---------------------------------------------------------------------


def attachment(option: str) -> AttachmentSpec:
    width, height = SIZES[option]
    return AttachmentSpec(f"{option}.png", image_bytes(width, height), "image/png")


@dataclass
class Sent:
    """One `/video generate` and what became of it."""

    tag: str
    interaction: FakeInteraction
    attachments: dict[str, AttachmentSpec]
    reply: str = ""
    create: RecordedRequest | None = None
    status: FakeMessage | None = None
    prompt: str = ""  # the prompt as the model must read it (mentions translated), for expected bodies

    @property
    def body(self) -> dict[str, Any]:
        assert self.create is not None and isinstance(self.create.json, dict)
        return self.create.json

    def b64(self, option: str) -> str:
        return base64.b64encode(self.attachments[option].data).decode()

    def data_uri(self, option: str) -> str:
        return f"data:image/png;base64,{self.b64(option)}"

    def url(self, option: str) -> str:
        """The Discord CDN URL the member's attachment came with (what a URL model must be sent)."""
        resolved = self.interaction.payload["data"]["resolved"]["attachments"]
        return next(str(a["url"]) for a in resolved.values() if a["filename"] == f"{option}.png")


def tagged(prompt: str) -> tuple[str, str]:
    tag = "t" + secrets.token_hex(4)
    return f"{prompt} {tag}", tag


def create_with(world: World, tag: str) -> RecordedRequest | None:
    return next((c for c in world.api.create_calls if tag in str((c.json or {}).get("prompt", ""))), None)


def status_with(world: World, tag: str, nth: int = 0) -> FakeMessage | None:
    found = [m for m in world.channel_messages() if is_card(m) and m.reply_to is None and tag in embed_text(m)]
    return found[nth] if len(found) > nth else None


async def send(world: World, prompt: str, attachments: tuple[str, ...] = (), **options: object) -> Sent:
    """Send the command, return once the member has the first reply (accepted or refused)."""
    text, tag = tagged(prompt)
    specs = {option: attachment(option) for option in attachments}
    interaction = await world.slash("generate", options={"prompt": text, **options}, attachments=specs)
    sent = Sent(tag, interaction, specs)
    sent.reply = await world.ephemeral_reply(interaction, timeout=15)
    return sent


async def rendered(world: World, sent: Sent) -> FakeMessage:
    """Wait for the create call and the delivered clip; returns the clip message."""
    assert "on its way" in sent.reply or "waiting for a moderator's approval" in sent.reply, sent.reply
    sent.create = await world.discord.wait_for(lambda: create_with(world, sent.tag), timeout=15)
    sent.status = await world.discord.wait_for(lambda: status_with(world, sent.tag), timeout=15)
    await wait_title(world, sent.status, "Done", timeout=20)
    status = sent.status
    return await world.discord.wait_for(
        lambda: next((m for m in replies_to(world, status) if m.attachments), None), timeout=15
    )


def task_of(world: World, sent: Sent) -> str:
    return next(i for i, task in world.api.tasks.items() if task.request == sent.body)


async def renders_in_db(world: World) -> int:
    ((count,),) = await world.rows("SELECT COUNT(*) FROM renders")
    return int(count)


# ---- every model, every mode: the create body as a whole ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request: its options and attachments, the body the gateway must get, the cost, what the card says."""

    prompt: str  # members write <<<image_N>>>; `sent_prompt` is what the model must read
    options: dict[str, Any]
    body: Callable[[Sent], dict[str, Any]]
    cost: int
    card: tuple[str, ...]
    attachments: tuple[str, ...] = ()
    sent_prompt: str | None = None


FRAMES = ("first_frame", "last_frame")
TWO_REFS = ("reference_1", "reference_2")

CASES: dict[str, Case] = {
    # ---- Kling 3.0: bare base64, options in metadata, sound "on"/"off", durations as numbers at the top level
    "kling-v3/text": Case(
        "a lighthouse at dusk",
        {
            "model": "kling-v3",
            "mode": "pro",
            "duration": 10,
            "aspect_ratio": "9:16",
            "negative_prompt": "blurry",
            "cfg_scale": 0.7,
            "watermark": True,
            "sound": True,
        },
        lambda s: {
            "model": "kling-v3",
            "prompt": s.prompt,
            "duration": 10,
            "mode": "pro",
            "metadata": {
                "aspect_ratio": "9:16",
                "negative_prompt": "blurry",
                "cfg_scale": 0.7,
                "sound": "on",
                "watermark_info": {"enabled": True},
            },
        },
        cost=10 * (2 + 1),
        card=("Kling 3.0", "pro (1080p)", "10 s", "9:16", "sound", "watermark", "cfg 0.7"),
    ),
    "kling-v3/image": Case(
        "the sun rises over the sea",
        {"model": "kling-v3"},
        lambda s: {
            "model": "kling-v3",
            "prompt": s.prompt,
            "duration": 5,
            "mode": "std",
            "image": s.b64("first_frame"),
            "metadata": {
                "cfg_scale": 0.5,
                "sound": "off",
                "watermark_info": {"enabled": False},
                "image_tail": s.b64("last_frame"),
            },
        },
        cost=5 * 1,
        card=("Kling 3.0", "image", "std (720p)", "no sound"),
        attachments=FRAMES,
    ),
    "kling-v3/reference": Case(
        "<<<image_1>>> meets <<<image_2>>>",
        {"model": "kling-v3", "aspect_ratio": "1:1"},
        lambda s: {
            "model": "kling-v3",
            "prompt": s.prompt,
            "duration": 5,
            "mode": "std",
            "metadata": {
                "aspect_ratio": "1:1",
                "cfg_scale": 0.5,
                "sound": "off",
                "watermark_info": {"enabled": False},
                "image_list": [{"image_url": s.b64("reference_1")}, {"image_url": s.b64("reference_2")}],
            },
        },
        cost=5,
        card=("Kling 3.0", "reference", "1:1"),
        attachments=TWO_REFS,
    ),
    # ---- Seedance 2.0: data URIs, Ark's keys in metadata, the duration three ways
    "seedance-2.0/text": Case(
        "a cyclist in the rain",
        {"model": "seedance-2.0", "mode": "pro", "duration": 6, "aspect_ratio": "21:9", "seed": 42, "sound": False},
        lambda s: {
            "model": "seedance-2.0",
            "prompt": s.prompt,
            "duration": 6,
            "seconds": "6",
            "metadata": {
                "duration": 6,
                "resolution": "1080p",
                "ratio": "21:9",
                "seed": 42,
                "generate_audio": False,
                "watermark": False,
            },
        },
        cost=6 * 4,
        card=("Seedance 2.0", "pro (1080p)", "21:9", "no sound", "seed 42"),
    ),
    "seedance-2.0/image": Case(
        "the door opens",
        {"model": "seedance-2.0", "seed": 7, "watermark": True},
        lambda s: {
            "model": "seedance-2.0",
            "prompt": s.prompt,
            "duration": 5,
            "seconds": "5",
            "images": [s.data_uri("first_frame"), s.data_uri("last_frame")],
            "metadata": {
                "duration": 5,
                "resolution": "720p",
                "seed": 7,
                "generate_audio": True,
                "watermark": True,
                "content": [
                    {"type": "image_url", "image_url": {"url": s.data_uri("first_frame")}, "role": "first_frame"},
                    {"type": "image_url", "image_url": {"url": s.data_uri("last_frame")}, "role": "last_frame"},
                ],
            },
        },
        cost=5 * 2,
        card=("Seedance 2.0", "image", "sound", "seed 7", "watermark"),
        attachments=FRAMES,
    ),
    "seedance-2.0/reference": Case(
        "<<<image_1>>> and <<<image_2>>> dance",
        {"model": "seedance-2.0", "seed": 8},
        lambda s: {
            "model": "seedance-2.0",
            "prompt": s.prompt,
            "duration": 5,
            "seconds": "5",
            "images": [s.data_uri("reference_1"), s.data_uri("reference_2")],
            "metadata": {
                "duration": 5,
                "resolution": "720p",
                "ratio": "16:9",
                "seed": 8,
                "generate_audio": True,
                "watermark": False,
                "content": [
                    {"type": "image_url", "image_url": {"url": s.data_uri("reference_1")}, "role": "reference_image"},
                    {"type": "image_url", "image_url": {"url": s.data_uri("reference_2")}, "role": "reference_image"},
                ],
            },
        },
        cost=5 * 2,
        card=("Seedance 2.0", "reference", "16:9"),
        attachments=TWO_REFS,
        sent_prompt="[Image 1] and [Image 2] dance",
    ),
    # ---- Veo 3.1: Google's camelCase keys in metadata, a data URI, no URL in the status (fetched from /content)
    "veo-3.1/text": Case(
        "a storm over the harbour",
        {
            "model": "veo-3.1",
            "mode": "pro",
            "duration": 8,
            "sound": True,
            "seed": 42,
            "negative_prompt": "rain",
            "aspect_ratio": "9:16",
        },
        lambda s: {
            "model": "veo-3.1",
            "prompt": s.prompt,
            "duration": 8,
            "metadata": {
                "durationSeconds": 8,
                "resolution": "1080p",
                "aspectRatio": "9:16",
                "negativePrompt": "rain",
                "seed": 42,
                "generateAudio": True,
            },
        },
        cost=8 * (4 + 2),
        card=("Veo 3.1", "pro (1080p)", "8 s", "9:16", "sound", "seed 42", "negative prompt"),
    ),
    "veo-3.1/image": Case(
        "the kite lifts off",
        {"model": "veo-3.1", "duration": 4, "sound": False, "seed": 1},
        lambda s: {
            "model": "veo-3.1",
            "prompt": s.prompt,
            "duration": 4,
            "images": [s.data_uri("first_frame")],
            "metadata": {"durationSeconds": 4, "resolution": "720p", "seed": 1, "generateAudio": False},
        },
        cost=4 * 3,
        card=("Veo 3.1", "image", "4 s", "no sound", "seed 1"),
        attachments=("first_frame",),
    ),
    # ---- Wan 2.6: the form names at the top level, images as Discord URLs, r2v's w*h size
    "wan-2.6/text": Case(
        "a paper boat on a river",
        {
            "model": "wan-2.6",
            "mode": "pro",
            "duration": 15,
            "aspect_ratio": "3:4",
            "negative_prompt": "blur",
            "seed": 0,
            "watermark": True,
        },
        lambda s: {
            "model": "wan2.6-t2v",
            "prompt": s.prompt,
            "duration": 15,
            "resolution": "1080P",
            "ratio": "3:4",
            "negative_prompt": "blur",
            "seed": 0,
            "watermark": True,
        },
        cost=15 * 2,
        card=("Wan 2.6", "pro (1080P)", "15 s", "3:4", "seed 0", "watermark"),
    ),
    "wan-2.6/image": Case(
        "the boat drifts away",
        {"model": "wan-2.6", "duration": 2, "sound": False, "seed": 5},
        lambda s: {
            "model": "wan2.6-i2v-flash",
            "prompt": s.prompt,
            "duration": 2,
            "resolution": "720P",
            "seed": 5,
            "audio": False,
            "watermark": False,
            "img_url": s.url("first_frame"),
        },
        cost=2 * 1,
        card=("Wan 2.6", "image", "2 s", "no sound", "seed 5"),
        attachments=("first_frame",),
    ),
    "wan-2.6/reference": Case(
        "<<<image_1>>> hugs <<<image_2>>>",
        {"model": "wan-2.6", "mode": "pro", "aspect_ratio": "9:16", "duration": 10, "seed": 9},
        lambda s: {
            "model": "wan2.6-r2v",
            "prompt": s.prompt,
            "duration": 10,
            "size": "1080*1920",
            "seed": 9,
            "audio": True,
            "watermark": False,
            "refs": [s.url("reference_1"), s.url("reference_2")],
        },
        cost=10 * 2,
        card=("Wan 2.6", "reference", "9:16", "seed 9"),
        attachments=TWO_REFS,
        sent_prompt="character1 hugs character2",
    ),
    # ---- Wan 2.7: no sound switch; frames sent both ways older and newer adaptors read them
    "wan-2.7/text": Case(
        "a kite over the dunes",
        {"model": "wan-2.7", "aspect_ratio": "1:1", "duration": 3, "seed": 11, "negative_prompt": "people"},
        lambda s: {
            "model": "wan2.7-t2v",
            "prompt": s.prompt,
            "duration": 3,
            "resolution": "720P",
            "ratio": "1:1",
            "negative_prompt": "people",
            "seed": 11,
            "watermark": False,
        },
        cost=3,
        card=("Wan 2.7", "3 s", "1:1", "no sound", "seed 11"),
    ),
    "wan-2.7/image": Case(
        "the dune shifts",
        {"model": "wan-2.7", "seed": 12},
        lambda s: {
            "model": "wan2.7-i2v",
            "prompt": s.prompt,
            "duration": 5,
            "resolution": "720P",
            "seed": 12,
            "watermark": False,
            "image": s.url("first_frame"),
            "images": [s.url("first_frame"), s.url("last_frame")],
            "metadata": {"last_frame_url": s.url("last_frame")},
        },
        cost=5,
        card=("Wan 2.7", "image", "seed 12"),
        attachments=FRAMES,
    ),
    "wan-2.7/reference": Case(
        "<<<image_1>>> waves",
        {"model": "wan-2.7", "mode": "pro", "seed": 13, "watermark": True},
        lambda s: {
            "model": "wan2.7-r2v",
            "prompt": s.prompt,
            "duration": 5,
            "resolution": "1080P",
            "ratio": "16:9",
            "seed": 13,
            "watermark": True,
            "reference_image": [s.url("reference_1")],
        },
        cost=5 * 2,
        card=("Wan 2.7", "reference", "pro (1080P)", "seed 13", "watermark"),
        attachments=("reference_1",),
        sent_prompt="Image 1 waves",
    ),
    # ---- HappyHorse 1.0: like Wan, watermark always sent (the gateway's default is on), 21:9 for references, the
    # first frame both as the form's img_url and as the `image` an older adaptor reads
    "happyhorse-1.0/text": Case(
        "a horse on a beach",
        {"model": "happyhorse-1.0", "duration": 15, "aspect_ratio": "4:3", "seed": 14, "watermark": False},
        lambda s: {
            "model": "happyhorse-1.0-t2v",
            "prompt": s.prompt,
            "duration": 15,
            "resolution": "720P",
            "ratio": "4:3",
            "seed": 14,
            "watermark": False,
        },
        cost=15,
        card=("HappyHorse 1.0", "15 s", "4:3", "seed 14"),
    ),
    "happyhorse-1.0/image": Case(
        "the horse gallops",
        {"model": "happyhorse-1.0", "mode": "pro", "seed": 15, "watermark": True},
        lambda s: {
            "model": "happyhorse-1.0-i2v",
            "prompt": s.prompt,
            "duration": 5,
            "resolution": "1080P",
            "seed": 15,
            "watermark": True,
            "img_url": s.url("first_frame"),
            "image": s.url("first_frame"),
        },
        cost=5 * 2,
        card=("HappyHorse 1.0", "image", "pro (1080P)", "seed 15", "watermark"),
        attachments=("first_frame",),
    ),
    "happyhorse-1.0/reference": Case(
        "<<<image_1>>> rides with <<<image_2>>> past <<<image_3>>>",
        {"model": "happyhorse-1.0", "aspect_ratio": "21:9", "seed": 16},
        lambda s: {
            "model": "happyhorse-1.0-r2v",
            "prompt": s.prompt,
            "duration": 5,
            "resolution": "720P",
            "ratio": "21:9",
            "seed": 16,
            "watermark": False,
            "images": [s.url("reference_1"), s.url("reference_2"), s.url("reference_3")],
        },
        cost=5,
        card=("HappyHorse 1.0", "reference", "21:9", "seed 16"),
        attachments=("reference_1", "reference_2", "reference_3"),
        sent_prompt="[Image 1] rides with [Image 2] past [Image 3]",
    ),
    # ---- Vidu Q3: lower-case resolutions, viduq3-pro for frames (head-tail frames as two `images`); no text mode
    "vidu-q3/reference-pro": Case(
        "<<<image_1>>> takes flight",
        {"model": "vidu-q3", "mode": "pro", "duration": 16, "aspect_ratio": "9:16", "sound": False, "seed": 17},
        lambda s: {
            "model": "viduq3",
            "prompt": s.prompt,
            "duration": 16,
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "seed": 17,
            "audio": False,
            "images": [s.url("reference_1")],
        },
        cost=16 * 2,
        card=("Vidu Q3", "reference", "pro (1080p)", "16 s", "9:16", "no sound", "seed 17"),
        attachments=("reference_1",),
        sent_prompt="image 1 takes flight",
    ),
    "vidu-q3/image": Case(
        "the heron lands",
        {"model": "vidu-q3", "duration": 1, "seed": 18},
        lambda s: {
            "model": "viduq3-pro",
            "prompt": s.prompt,
            "duration": 1,
            "resolution": "720p",
            "seed": 18,
            "audio": True,
            "image": s.url("first_frame"),
            "images": [s.url("first_frame"), s.url("last_frame")],
        },
        cost=1,
        card=("Vidu Q3", "image", "1 s", "sound", "seed 18"),
        attachments=FRAMES,
    ),
    "vidu-q3/reference": Case(
        "<<<image_1>>> and <<<image_2>>> fish",
        {"model": "vidu-q3", "duration": 3, "seed": 19},
        lambda s: {
            "model": "viduq3",
            "prompt": s.prompt,
            "duration": 3,
            "resolution": "720p",
            "aspect_ratio": "16:9",
            "seed": 19,
            "audio": True,
            "images": [s.url("reference_1"), s.url("reference_2")],
        },
        cost=3,
        card=("Vidu Q3", "reference", "3 s", "seed 19"),
        attachments=TWO_REFS,
        sent_prompt="image 1 and image 2 fish",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_each_model_and_mode_sends_its_own_body_and_delivers_the_clip(world: World, case: Case) -> None:
    sent = await send(world, case.prompt, case.attachments, **case.options)

    clip = await rendered(world, sent)

    sent.prompt = f"{case.sent_prompt or case.prompt} {sent.tag}"
    assert sent.body == case.body(sent)
    task = world.api.tasks[task_of(world, sent)]
    assert task.ignored == [], "the gateway would have dropped these"
    assert f"Cost: **{case.cost} credits**" in sent.reply
    assert sent.status is not None
    settings = next(line for line in embed_text(sent.status).splitlines() if line.startswith("**Settings:**"))
    for fragment in case.card:
        assert fragment.lower() in settings.lower()
    assert clip.attachments[0].filename.endswith(".mp4")
    assert clip.attachments[0].size == 20_000


async def test_veo_clip_comes_from_the_gateways_content_route(world: World) -> None:
    sent = await send(world, "a quiet harbour at night", model="veo-3.1", seed=3)

    await rendered(world, sent)

    task_id = task_of(world, sent)
    assert world.api.calls("GET", f"/v1/videos/{task_id}/content") != []
    assert world.api.calls("GET", f"/files/{task_id}") == []


async def test_url_models_get_the_attachment_url_from_discord_never_the_bytes(world: World) -> None:
    sent = await send(world, "the kite lifts", ("first_frame",), model="happyhorse-1.0", seed=4)

    await rendered(world, sent)

    url = sent.body["img_url"]
    assert url.startswith(f"{world.discord.base_url}/attachments/") and "hm=" in url
    assert sent.b64("first_frame")[:40] not in str(sent.body)
    assert (url, 200) in world.api.image_fetches


# ---- options a model does not take: refused at once, no call, nothing reserved -----------------------------------

UNSUPPORTED: dict[str, tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]] = {
    # options, attachments -> what the reply names
    "seed_on_kling": ({"model": "kling-v3", "seed": 42}, (), ("`seed`", "Kling 3.0")),
    "cfg_scale_on_wan": ({"model": "wan-2.6", "cfg_scale": 0.3}, (), ("`cfg_scale`", "Wan 2.6")),
    "last_frame_on_wan_2_6": ({"model": "wan-2.6"}, FRAMES, ("`last_frame`", "Wan 2.6")),
    "reference_mode_on_veo": ({"model": "veo-3.1"}, ("reference_1",), ("reference", "Veo 3.1")),
    "watermark_on_veo": ({"model": "veo-3.1", "watermark": True}, (), ("`watermark`", "Veo 3.1")),
    "sound_on_wan_2_7": ({"model": "wan-2.7", "sound": True}, (), ("`sound`", "Wan 2.7")),
    "sound_on_happyhorse": ({"model": "happyhorse-1.0", "sound": True}, (), ("`sound`", "HappyHorse 1.0")),
    "duration_10_on_veo": ({"model": "veo-3.1", "duration": 10}, (), ("`duration`", "Veo 3.1", "10")),
    "21_9_on_kling": ({"model": "kling-v3", "aspect_ratio": "21:9"}, (), ("`aspect_ratio`", "`21:9`", "Kling 3.0")),
    "negative_prompt_on_vidu": (
        {"model": "vidu-q3", "negative_prompt": "rain"},
        ("first_frame",),
        ("`negative_prompt`", "Vidu Q3"),
    ),
    # No ModelStream page documents a Vidu Q3 text-to-video id: the reply names the models that have text mode.
    "text_mode_on_vidu": (
        {"model": "vidu-q3"},
        (),
        ("Vidu Q3 (`vidu-q3`) has no text mode", "Models with text mode:", "`kling-v3`", "`happyhorse-1.0`"),
    ),
    "multi_shot_on_seedance": ({"model": "seedance-2.0", "multi_shot": True}, (), ("`multi_shot`", "Seedance 2.0")),
}


@pytest.mark.parametrize(("options", "attachments", "says"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
async def test_an_option_the_model_does_not_take_is_refused_without_a_call_or_a_reservation(
    world: World, options: dict[str, Any], attachments: tuple[str, ...], says: tuple[str, ...]
) -> None:
    calls, renders = len(world.api.create_calls), await renders_in_db(world)
    prompt = "<<<image_1>>> walks" if "reference_1" in attachments else "a cat on a roof"

    sent = await send(world, prompt, attachments, **options)

    for fragment in says:
        assert fragment in sent.reply
    assert world.discord.callbacks(sent.interaction)[0].ephemeral
    assert "on its way" not in sent.reply
    assert len(world.api.create_calls) == calls
    assert await renders_in_db(world) == renders
    assert status_with(world, sent.tag) is None


# ---- the result buttons keep the model ------------------------------------------------------------------------------


async def test_regenerate_on_a_seed_model_draws_a_new_seed_and_shows_it(world: World) -> None:
    sent = await send(world, "a lantern festival", model="wan-2.7")
    clip = await rendered(world, sent)
    first_seed = sent.body["seed"]
    assert sent.status is not None and f"seed {first_seed}" in embed_text(sent.status)

    pressed = await world.discord.send_component(button(clip, "Regenerate"), clip.id)

    assert "Cost: **5 credits**" in await world.ephemeral_reply(pressed)
    again = await world.discord.wait_for(lambda: status_with(world, sent.tag, nth=1), timeout=15)
    await wait_title(world, again, "Done", timeout=20)
    second = [c.json for c in world.api.create_calls if sent.tag in str((c.json or {}).get("prompt", ""))]
    assert len(second) == 2
    assert second[1]["seed"] != first_seed
    assert f"seed {second[1]['seed']}" in embed_text(again)
    assert {k: v for k, v in second[1].items() if k != "seed"} == {k: v for k, v in sent.body.items() if k != "seed"}


async def test_remix_keeps_the_model_and_sends_the_edited_prompt(world: World) -> None:
    sent = await send(world, "a heron in the reeds", ("first_frame",), model="vidu-q3", seed=21)
    clip = await rendered(world, sent)
    pressed = await world.discord.send_component(button(clip, "Remix"), clip.id)
    await world.discord.wait_callback(pressed)
    modal = world.discord.modal(pressed)
    assert modal is not None
    (prompt_field,) = components_of(modal["components"], 4)
    edited, tag = tagged("a heron in the snow")

    submitted = await world.discord.send_modal_submit(modal["custom_id"], {prompt_field["custom_id"]: edited})

    assert "on its way" in await world.ephemeral_reply(submitted)
    remixed = await world.discord.wait_for(lambda: create_with(world, tag), timeout=15)
    assert isinstance(remixed.json, dict)
    assert remixed.json["model"] == "viduq3-pro"
    assert remixed.json["prompt"] == edited
    kept = {k: v for k, v in sent.body.items() if k not in ("prompt", "seed")}
    assert {k: v for k, v in remixed.json.items() if k not in ("prompt", "seed")} == kept
