"""The Discord layer's shared paths: images checked off the event loop, and the guard that answers a failing
button or modal instead of leaving the member on "thinking…"."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.discord_app import flows
from bot.discord_app.context import AppContext, Services, context_of
from bot.discord_app.ui import text, views
from bot.discord_app.ui.status import describe_settings
from bot.domain.errors import RequestValidationError
from bot.domain.images import CheckedImage
from bot.domain.models import load_model_table
from bot.domain.request import (
    AspectRatio,
    AttachmentRef,
    GenerationMode,
    ImageRole,
    ImageSlot,
    QualityMode,
    VideoRequest,
)
from bot.services.generation import GenerationService
from bot.services.intake import Intake
from bot.storage.alerts import AlertRepository
from bot.storage.config import GuildConfigRepository
from bot.storage.images import ImageStore
from bot.storage.model_holds import ModelHolds
from bot.storage.renders import RenderRepository
from tests.discord_app.fake_interaction import GUILD, USER, FakeInteraction
from tests.e2e.conftest import image_bytes
from tests.services.recording_publisher import RecordingPublisher
from tests.storage.builders import T0
from tests.storage.databases import open_database


async def test_images_are_checked_and_fitted_in_one_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[tuple[str, str]] = []
    real_check, real_fit = flows.check_image, flows.fit_images_to_body

    def check(option: str, data: bytes) -> CheckedImage:
        threads.append(("check", threading.current_thread().name))
        return real_check(option, data)

    def fit(images: list[CheckedImage], budget: int) -> list[CheckedImage]:
        threads.append(("fit", threading.current_thread().name))
        return real_fit(images, budget)

    async def download(session: object, ref: AttachmentRef) -> bytes:
        return image_bytes(640, 360)

    monkeypatch.setattr(flows, "check_image", check)
    monkeypatch.setattr(flows, "fit_images_to_body", fit)
    monkeypatch.setattr(flows, "download_attachment", download)
    table = load_model_table()
    generation = SimpleNamespace(model=lambda request: table.get(request.model))
    services = SimpleNamespace(
        http=None, settings=SimpleNamespace(api_body_limit_mb=20), generation=generation, intake=Intake()
    )
    context = AppContext(cast(Services, services))
    refs = [AttachmentRef(f"reference_{n}", f"{n}.png", f"http://127.0.0.1/{n}.png", 0, "image/png") for n in (1, 2)]

    images = await flows.checked_images(context, refs, reference_request("kling-v3"))

    assert [image.option for image in images] == ["reference_1", "reference_2"]
    assert [step for step, _ in threads] == ["check", "check", "fit"]
    assert len({name for _, name in threads}) == 1
    assert threads[0][1].startswith("images")  # the image threads, not the event loop's nor asyncio's default pool


class Handlers:
    """A view's shape: guarded methods taking the interaction (and, like view buttons, an extra argument)."""

    @flows.guarded
    async def breaks_after_defer(self, interaction: Any, button: object = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        raise KeyError("request_json")

    @flows.guarded
    async def breaks_at_once(self, interaction: Any) -> None:
        raise RuntimeError("database is locked")

    @flows.guarded
    async def refuses(self, interaction: Any) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        raise RequestValidationError("prompt", "`prompt` is empty.")


async def test_a_handler_failing_after_its_defer_fills_the_thinking_reply_with_the_internal_error() -> None:
    interaction = FakeInteraction()

    await Handlers().breaks_after_defer(interaction.as_discord(), None)

    assert interaction.recorder.events == ["defer", f"shown: {text.INTERNAL_ERROR}"]


async def test_a_handler_failing_before_answering_replies_with_the_internal_error() -> None:
    interaction = FakeInteraction()

    await Handlers().breaks_at_once(interaction.as_discord())

    assert interaction.recorder.shown == [text.INTERNAL_ERROR]


async def test_a_user_facing_error_is_shown_as_its_own_message() -> None:
    interaction = FakeInteraction()

    await Handlers().refuses(interaction.as_discord())

    assert interaction.recorder.shown == ["`prompt` is empty."]


async def test_a_handler_failure_is_logged_with_the_interaction_ids(caplog: pytest.LogCaptureFixture) -> None:
    interaction = FakeInteraction(custom_id="video:regen:" + "a" * 32)

    with caplog.at_level(logging.ERROR, logger="bot.discord_app.flows"):
        await Handlers().breaks_at_once(interaction.as_discord())

    (record,) = caplog.records
    message = record.getMessage()
    assert "Handlers.breaks_at_once failed" in message
    assert "video:regen:" + "a" * 32 in message
    assert f"user {interaction.user.id}" in message and f"guild {interaction.guild_id}" in message
    assert record.exc_info is not None


def test_the_internal_error_does_not_promise_that_nothing_was_charged() -> None:
    # It may be raised after the reservation: the member is told where to look instead.
    assert "Nothing was charged" not in text.INTERNAL_ERROR
    assert "If your request was accepted" in text.INTERNAL_ERROR


# ---- Regenerate of a model that can no longer be used ----------------------------------------------------

RENDER_ID = "0123456789abcdef0123456789abcdef"
DRAWN_SEED = 4242


def veo_request() -> VideoRequest:
    return VideoRequest(
        prompt="a lighthouse in a storm",
        generation_mode=GenerationMode.TEXT,
        mode=QualityMode.STD,
        duration=4,
        aspect_ratio=AspectRatio.WIDE,
        model="veo-3.1",
        sound=False,
        seed=7,
    )


@dataclass
class Regenerating:
    """A delivered render of this guild and the real services behind its Regenerate button."""

    interaction: FakeInteraction
    holds: ModelHolds
    renders: RenderRepository
    publisher: RecordingPublisher

    async def press(self) -> list[str]:
        await views.RegenerateButton(RENDER_ID).callback(self.interaction.as_discord())
        return self.interaction.recorder.shown


@pytest.fixture
async def regenerating(tmp_path: Path) -> AsyncIterator[Callable[[VideoRequest], Regenerating]]:
    async with open_database("sqlite", tmp_path) as db:

        def build(request: VideoRequest) -> Regenerating:
            renders = RenderRepository(db)
            holds = ModelHolds(db)
            publisher = RecordingPublisher()
            generation = GenerationService(
                renders=renders,
                images=ImageStore(db),
                config=GuildConfigRepository(db),
                alerts=AlertRepository(db),
                publisher=publisher,
                models=load_model_table(),
                default_model="kling-v3",
                wake_tracker=lambda: None,
                holds=holds,
                now=lambda: T0,
                draw_seed=lambda: DRAWN_SEED,
            )
            stored = SimpleNamespace(
                id=RENDER_ID, guild_id=GUILD, user_id=USER, request=request, parent_id=None, chain_position=None
            )
            interaction = FakeInteraction({RENDER_ID: stored})
            interaction.services.generation = generation
            interaction.services.intake = Intake()
            return Regenerating(interaction, holds, renders, publisher)

        yield build


async def test_regenerate_of_a_model_kept_off_is_refused_with_nothing_charged(
    regenerating: Callable[[VideoRequest], Regenerating],
) -> None:
    setup = regenerating(veo_request())
    await setup.holds.hold("veo-3.1", T0 + timedelta(minutes=30))

    shown = await setup.press()

    reason = f"ModelStream can't run it at the moment (back <t:{int((T0 + timedelta(minutes=30)).timestamp())}:R>)"
    assert shown == [text.MODEL_GONE.format(model="veo-3.1", reason=reason)]
    assert await setup.renders.recent(GUILD) == []
    assert setup.publisher.events == []


async def test_regenerate_of_a_model_gone_from_the_table_is_refused(
    regenerating: Callable[[VideoRequest], Regenerating],
) -> None:
    setup = regenerating(replace(veo_request(), model="veo-2"))

    shown = await setup.press()

    assert shown == [text.MODEL_GONE.format(model="veo-2", reason="it is no longer offered")]
    assert await setup.renders.recent(GUILD) == []


async def test_regenerate_sends_the_same_settings_with_a_new_seed_shown_on_the_card(
    regenerating: Callable[[VideoRequest], Regenerating],
) -> None:
    setup = regenerating(veo_request())

    shown = await setup.press()

    assert shown[0].startswith("Your video is on its way!")
    [post] = setup.publisher.posts
    assert post.render is not None
    assert post.render.request == replace(veo_request(), seed=DRAWN_SEED)
    assert f"seed {DRAWN_SEED}" in describe_settings(post.render.request, load_model_table().get("veo-3.1"))


def first_frame_of(request: VideoRequest) -> tuple[VideoRequest, list[AttachmentRef]]:
    """The request in image mode with one attachment to download, as `/video generate` hands it over."""
    ref = AttachmentRef("first_frame", "f.png", "http://127.0.0.1/f.png", 0, "image/png")
    return replace(request, generation_mode=GenerationMode.IMAGE), [ref]


async def test_a_third_request_with_images_being_prepared_is_refused_with_nothing_charged(
    regenerating: Callable[[VideoRequest], Regenerating], monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[str] = []

    async def download(session: object, ref: AttachmentRef) -> bytes:
        downloads.append(ref.option)
        return image_bytes(640, 360)

    monkeypatch.setattr(flows, "download_attachment", download)
    setup = regenerating(veo_request())
    services = setup.interaction.services
    held = [services.intake.claim(USER), services.intake.claim(USER)]  # two requests of this member downloading
    request, refs = first_frame_of(veo_request())

    interaction = setup.interaction.as_discord()
    outcome = await flows.submit(context_of(interaction), interaction, request, refs)

    assert outcome.message == text.TOO_MANY_PREPARING.format(count=2)
    assert "2 requests with images being prepared" in outcome.message and "nothing was charged" in outcome.message
    assert outcome.accepted is None
    assert downloads == []
    assert await setup.renders.recent(GUILD) == []
    assert setup.publisher.events == []
    for slot in held:
        assert slot is not None
        with slot:
            pass
    assert services.intake.preparing(USER) == 0


async def test_the_slot_is_given_back_once_the_request_is_through(
    regenerating: Callable[[VideoRequest], Regenerating], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def download(session: object, ref: AttachmentRef) -> bytes:
        return image_bytes(640, 360)

    monkeypatch.setattr(flows, "download_attachment", download)
    setup = regenerating(veo_request())
    services = setup.interaction.services
    services.http, services.settings = None, SimpleNamespace(api_body_limit_mb=32)
    request, refs = first_frame_of(veo_request())

    interaction = setup.interaction.as_discord()
    outcome = await flows.submit(context_of(interaction), interaction, request, refs)

    assert outcome.accepted is not None
    assert services.intake.preparing(USER) == 0


async def test_requests_without_attachments_are_never_held_up(
    regenerating: Callable[[VideoRequest], Regenerating],
) -> None:
    setup = regenerating(veo_request())
    intake = setup.interaction.services.intake
    held = [intake.claim(USER), intake.claim(USER)]
    assert None not in held

    shown = await setup.press()

    assert shown[0].startswith("Your video is on its way!")


async def test_regenerate_of_a_request_whose_images_are_no_longer_kept_is_refused(
    regenerating: Callable[[VideoRequest], Regenerating],
) -> None:
    purged = ImageSlot(ImageRole.FIRST_FRAME, 1, "d" * 64)
    setup = regenerating(replace(veo_request(), generation_mode=GenerationMode.IMAGE, images=(purged,)))

    shown = await setup.press()

    assert shown == [text.IMAGES_NOT_KEPT]
    assert await setup.renders.recent(GUILD) == []
    assert setup.publisher.events == []


def reference_request(model: str) -> VideoRequest:
    return VideoRequest(
        prompt="<<<image_1>>> meets <<<image_2>>>",
        generation_mode=GenerationMode.REFERENCE,
        mode=QualityMode.STD,
        duration=5,
        aspect_ratio=AspectRatio.WIDE,
        model=model,
    )


async def test_a_model_wanting_larger_images_refuses_a_small_one_before_anything_is_charged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def download(session: object, ref: AttachmentRef) -> bytes:
        return image_bytes(350, 350)

    monkeypatch.setattr(flows, "download_attachment", download)
    table = load_model_table()
    generation = SimpleNamespace(model=lambda request: table.get(request.model))
    services = SimpleNamespace(
        http=None, settings=SimpleNamespace(api_body_limit_mb=32), generation=generation, intake=Intake()
    )
    context = AppContext(cast(Services, services))
    refs = [AttachmentRef("reference_1", "1.png", "http://127.0.0.1/1.png", 0, "image/png")]

    with pytest.raises(RequestValidationError) as refused:
        await flows.checked_images(context, refs, reference_request("happyhorse-1.0"))

    assert refused.value.option == "reference_1"
    assert "HappyHorse 1.0 needs each side to be at least 400 px" in refused.value.message
    assert len(await flows.checked_images(context, refs, reference_request("kling-v3"))) == 1


async def test_a_model_carrying_each_image_twice_gets_half_the_body_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    budgets: list[int] = []

    def fit(images: list[CheckedImage], budget: int) -> list[CheckedImage]:
        budgets.append(budget)
        return images

    async def download(session: object, ref: AttachmentRef) -> bytes:
        return image_bytes(640, 360)

    monkeypatch.setattr(flows, "fit_images_to_body", fit)
    monkeypatch.setattr(flows, "download_attachment", download)
    table = load_model_table()
    generation = SimpleNamespace(model=lambda request: table.get(request.model))
    services = SimpleNamespace(
        http=None, settings=SimpleNamespace(api_body_limit_mb=32), generation=generation, intake=Intake()
    )
    context = AppContext(cast(Services, services))
    refs = [AttachmentRef("reference_1", "1.png", "http://127.0.0.1/1.png", 0, "image/png")]

    await flows.checked_images(context, refs, reference_request("kling-v3"))
    await flows.checked_images(context, refs, reference_request("seedance-2.0"))

    assert budgets[1] == budgets[0] // 2
