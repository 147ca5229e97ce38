"""The result URL is untrusted: VideoApiClient.download against the fake gateway on loopback.

Each test serves one misbehaviour (a web page posing as video/mp4, a redirect chain, a trickle, an endless body)
and checks what the tracker would get: a clip it may post, or the error that says what to do, with nothing left
on disk.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.videoapi.client import VideoApiClient
from bot.videoapi.download import DownloadLimits, looks_like_video
from bot.videoapi.errors import (
    DownloadStalled,
    DownloadTooLarge,
    NotAVideo,
    ServerError,
    UnsafeVideoUrl,
)
from bot.videoapi.retry import RetryPolicy, is_retryable
from tests.fakes.video_api import FakeVideoApi
from tests.videoapi.conftest import RecordingSleep
from tests.videoapi.media import decoded_frames, tiny_png, tiny_video

# Short enough that a stalled body is caught in well under a second; a healthy loopback body is far faster.
QUICK = DownloadLimits(deadline=20.0, min_rate=32 * 1024, grace=0.2, window=0.3)


def quick_client(session: aiohttp.ClientSession, api: FakeVideoApi, limits: DownloadLimits = QUICK) -> VideoApiClient:
    return VideoApiClient(
        session,
        api.base_url,
        api.api_key,
        policy=RetryPolicy(max_attempts=3),
        sleep=RecordingSleep(),
        rand=lambda: 0.5,
        download_limits=limits,
    )


def file_url(api: FakeVideoApi, task_id: str) -> str:
    return f"{api.base_url}/files/{task_id}.mp4"


def left_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.is_file())


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


# ---- the body must be a video --------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["mp4", "mov", "webm"])
async def test_a_real_video_is_downloaded_byte_for_byte(
    client: VideoApiClient, api: FakeVideoApi, media: Path, downloads: Path, container: str
) -> None:
    video = tiny_video(media, container)
    task_id = api.add_task(video_file=str(video))
    dest = downloads / "clip.mp4"

    size = await client.download(task_id, file_url(api, task_id), dest)

    assert size == video.stat().st_size
    assert dest.read_bytes() == video.read_bytes()
    assert decoded_frames(dest) == 6


async def test_a_web_page_served_as_video_mp4_is_not_a_video(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path
) -> None:
    task_id = api.add_task(body="html")

    with pytest.raises(NotAVideo) as caught:
        await client.download(task_id, file_url(api, task_id), downloads / "clip.mp4")

    assert not is_retryable(caught.value, create=False)
    assert len(api.calls("GET", "/files/")) == 1  # the same URL would give the same page: not asked again
    assert left_in(downloads) == []


async def test_an_image_is_not_a_video(client: VideoApiClient, api: FakeVideoApi, media: Path, downloads: Path) -> None:
    task_id = api.add_task(video_file=str(tiny_png(media)))

    with pytest.raises(NotAVideo):
        await client.download(task_id, file_url(api, task_id), downloads / "clip.mp4")

    assert left_in(downloads) == []


async def test_an_empty_body_is_not_a_video(client: VideoApiClient, api: FakeVideoApi, downloads: Path) -> None:
    task_id = api.add_task(video_size=0)

    with pytest.raises(NotAVideo):
        await client.download(task_id, file_url(api, task_id), downloads / "clip.mp4")

    assert left_in(downloads) == []


async def test_the_content_endpoint_is_checked_too(client: VideoApiClient, api: FakeVideoApi, downloads: Path) -> None:
    task_id = api.add_task(render_polls=0, body="html")

    with pytest.raises(NotAVideo):
        await client.download(task_id, None, downloads / "clip.mp4")

    assert left_in(downloads) == []


@pytest.mark.parametrize(
    ("head", "video"),
    [
        (b"\x00\x00\x00\x18ftypmp42", True),
        (b"\x00\x00\x00\x08wide\x00\x00", True),
        (b"\x00\x01\x00\x00moov", True),
        (b"\x00\x00\x00\x00mdat", True),
        (b"\x00\x00\x00\x08free", True),
        (b"\x00\x00\x00\x08skip", True),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", True),
        (b"<!doctype html>", False),
        (b'{"error": "x"}', False),
        (b"\x89PNG\r\n\x1a\n", False),
        (b"\x00\x00\x00\x18ftxp", False),
        (b"ftyp", False),
        (b"", False),
    ],
)
def test_container_signatures(head: bytes, video: bool) -> None:
    assert looks_like_video(head) is video


# ---- redirects -----------------------------------------------------------------------------------------


async def test_a_redirect_chain_within_the_cap_is_followed(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path
) -> None:
    task_id = api.add_task(redirects=5, video_size=4096)
    status = await client.status(task_id)  # render_polls: the URL is there once done; ask until it is
    while status.video_url is None:
        status = await client.status(task_id)

    size = await client.download(task_id, status.video_url, downloads / "clip.mp4")

    assert size == 4096
    assert len(api.calls("GET", "/hops/")) == 5


async def test_too_many_redirects_end_the_download_without_a_retry(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path
) -> None:
    task_id = api.add_task(redirects=6)

    with pytest.raises(UnsafeVideoUrl):
        await client.download(task_id, f"{api.base_url}/hops/{task_id}/6", downloads / "clip.mp4")

    assert len(api.calls("GET", "/hops/")) == 6  # the first request and five hops, once
    assert api.calls("GET", "/files/") == []
    assert left_in(downloads) == []


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/clip.mp4", "javascript:alert(1)", "data:video/mp4;base64,AAAA"]
)
async def test_a_redirect_to_another_scheme_is_refused(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path, target: str
) -> None:
    task_id = api.add_task(redirects=2, redirect_target=target)

    with pytest.raises(UnsafeVideoUrl) as caught:
        await client.download(task_id, f"{api.base_url}/hops/{task_id}/2", downloads / "clip.mp4")

    assert isinstance(caught.value, NotAVideo)  # the tracker ends it as a failure with a refund
    assert len(api.calls("GET", "/hops/")) == 2
    assert left_in(downloads) == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/clip.mp4", "file:///etc/passwd", "http:///no-host", "not a url"])
async def test_a_result_url_that_is_not_http_is_never_requested(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path, url: str
) -> None:
    with pytest.raises(UnsafeVideoUrl):
        await client.download("task_1", url, downloads / "clip.mp4")

    assert api.requests == []
    assert left_in(downloads) == []


# ---- time and size -------------------------------------------------------------------------------------


async def test_a_trickling_body_is_stalled_and_removed(
    session: aiohttp.ClientSession, api: FakeVideoApi, downloads: Path
) -> None:
    task_id = api.add_task(body="trickle", body_rate=2048, video_size=256 * 1024)

    with pytest.raises(DownloadStalled) as caught:
        await quick_client(session, api).download(
            task_id, file_url(api, task_id), downloads / "clip.mp4", max_attempts=1
        )

    assert is_retryable(caught.value, create=False)
    assert "too slowly" in str(caught.value)
    assert left_in(downloads) == []


async def test_a_body_at_a_healthy_rate_is_not_stalled(
    session: aiohttp.ClientSession, api: FakeVideoApi, downloads: Path
) -> None:
    # Eight times the minimum, for longer than grace and window together: judged, and passed.
    limits = DownloadLimits(deadline=20.0, min_rate=8 * 1024, grace=0.1, window=0.2)
    task_id = api.add_task(body="trickle", body_rate=64 * 1024, video_size=48 * 1024)

    size = await quick_client(session, api, limits).download(
        task_id, file_url(api, task_id), downloads / "clip.mp4", max_attempts=1
    )

    assert size == 48 * 1024


async def test_an_endless_body_is_cut_at_the_size_cap(
    client: VideoApiClient, api: FakeVideoApi, downloads: Path
) -> None:
    task_id = api.add_task(body="endless")

    with pytest.raises(DownloadTooLarge):
        await client.download(task_id, file_url(api, task_id), downloads / "clip.mp4", max_bytes=1024 * 1024)

    assert left_in(downloads) == []


async def test_an_endless_body_without_a_size_cap_ends_at_the_deadline(
    session: aiohttp.ClientSession, api: FakeVideoApi, downloads: Path
) -> None:
    limits = DownloadLimits(deadline=1.0, min_rate=16 * 1024, grace=0.2, window=0.2)
    task_id = api.add_task(body="endless", body_rate=1024 * 1024)

    with pytest.raises(DownloadStalled) as caught:
        await quick_client(session, api, limits).download(task_id, file_url(api, task_id), downloads / "clip.mp4")

    assert "deadline" in str(caught.value)
    # The deadline covers the whole call: no retry starts once it has passed.
    assert len(api.calls("GET", "/files/")) == 1
    assert left_in(downloads) == []


async def test_a_host_that_never_answers_ends_at_the_deadline(
    session: aiohttp.ClientSession, api: FakeVideoApi, downloads: Path
) -> None:
    limits = DownloadLimits(deadline=0.5)
    task_id = api.add_task()
    api.fail_next("files", "hang", seconds=30)

    with pytest.raises(DownloadStalled):
        await quick_client(session, api, limits).download(task_id, file_url(api, task_id), downloads / "clip.mp4")

    assert left_in(downloads) == []


async def test_one_attempt_when_the_caller_retries_on_its_own(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep, downloads: Path
) -> None:
    task_id = api.add_task(video_size=4096)
    api.fail_next("files", "502")

    with pytest.raises(ServerError):
        await client.download(task_id, file_url(api, task_id), downloads / "clip.mp4", max_attempts=1)

    assert len(api.calls("GET", "/files/")) == 1
    assert sleeps.delays == []
    assert left_in(downloads) == []
