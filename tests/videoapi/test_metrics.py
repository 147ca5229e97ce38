"""Every call the client makes to the video API is counted by call and outcome (read as /metrics would)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.metrics import REGISTRY
from bot.videoapi.client import VideoApiClient
from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    DownloadStalled,
    DownloadTooLarge,
    ModelUnavailable,
    NoCredit,
    NotAVideo,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    UnsafeVideoUrl,
    VideoApiError,
    error_kind,
)
from tests.fakes.video_api import FakeVideoApi

PAYLOAD = {"model": "kling-v3", "prompt": "a red fox in the snow", "duration": "5", "mode": "std"}


def counted(call: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("videobot_api_calls_total", {"call": call, "outcome": outcome}) or 0.0


class Counts:
    """The counter's values when made, so a test reads only what it caused (the registry is process-wide)."""

    def __init__(self) -> None:
        self._before: dict[tuple[str, str], float] = {}

    def since(self, call: str, outcome: str) -> float:
        return counted(call, outcome) - self._before.setdefault((call, outcome), 0.0)

    def mark(self, *pairs: tuple[str, str]) -> Counts:
        self._before = {pair: counted(*pair) for pair in pairs}
        return self


async def test_create_and_status_are_counted_ok(client: VideoApiClient, api: FakeVideoApi) -> None:
    counts = Counts().mark(("create", "ok"), ("status", "ok"))

    task = await client.create(PAYLOAD)
    await client.status(task.task_id)

    assert counts.since("create", "ok") == 1
    assert counts.since("status", "ok") == 1


async def test_each_attempt_is_counted_with_its_error_kind(client: VideoApiClient, api: FakeVideoApi) -> None:
    task_id = api.add_task()
    api.fail_next("status", "429")
    api.fail_next("status", "500")
    counts = Counts().mark(("status", "rate_limited"), ("status", "server_error"), ("status", "ok"))

    await client.status(task_id)

    assert counts.since("status", "rate_limited") == 1
    assert counts.since("status", "server_error") == 1
    assert counts.since("status", "ok") == 1


async def test_downloads_and_content_are_counted_apart(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    good = api.add_task(render_polls=0, video_size=2048)
    page = api.add_task(body="html")
    counts = Counts().mark(("content", "ok"), ("download", "not_a_video"), ("download", "too_large"))

    await client.download(good, None, tmp_path / "a.mp4")
    with pytest.raises(NotAVideo):
        await client.download(page, f"{api.base_url}/files/{page}.mp4", tmp_path / "b.mp4")
    with pytest.raises(DownloadTooLarge):
        await client.download(good, f"{api.base_url}/files/{good}.mp4", tmp_path / "c.mp4", max_bytes=100)

    assert counts.since("content", "ok") == 1
    assert counts.since("download", "not_a_video") == 1
    assert counts.since("download", "too_large") == 1


async def test_model_list_refused_key_is_counted_as_auth(api: FakeVideoApi, session: aiohttp.ClientSession) -> None:
    client = VideoApiClient(session, api.base_url, "sk-wrong")
    counts = Counts().mark(("models", "auth"))

    with pytest.raises(AuthError):
        await client.list_models()

    assert counts.since("models", "auth") == 1


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RateLimited("x"), "rate_limited"),
        (ModelUnavailable("x", status=503), "model_unavailable"),
        (ServerError("x", status=502), "server_error"),
        (ApiTimeout(), "timeout"),
        (ApiConnectionError(), "connection"),
        (BadRequest("x", status=400), "bad_request"),
        (AuthError("x", status=401), "auth"),
        (NoCredit("x", status=402), "no_credit"),
        (TaskNotFound("x", status=404), "not_found"),
        (NotAVideo("x"), "not_a_video"),
        (UnsafeVideoUrl("x"), "unsafe_url"),
        (DownloadTooLarge("x", limit=1), "too_large"),
        (DownloadStalled("x"), "stalled"),
        (UnexpectedResponse("x"), "unexpected"),
        (VideoApiError("x"), "error"),
        (PermissionError("disk"), "local_io"),
    ],
)
def test_error_kinds(error: BaseException, kind: str) -> None:
    assert error_kind(error) == kind
