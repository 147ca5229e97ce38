"""VideoApiClient against the fake gateway on loopback: retries, errors, downloads and the key's safety."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from bot.videoapi.client import VideoApiClient
from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    DownloadTooLarge,
    ModelUnavailable,
    NoCredit,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    VideoApiError,
    transport_error,
)
from bot.videoapi.retry import RetryPolicy
from bot.videoapi.status import TaskPhase
from tests.fakes.video_api import FakeVideoApi
from tests.videoapi.conftest import RecordingSleep

PAYLOAD = {
    "model": "kling-v3",
    "prompt": "a red fox in the snow",
    "duration": 5,
    "mode": "std",
    "metadata": {"aspect_ratio": "16:9", "cfg_scale": 0.5, "watermark_info": {"enabled": False}},
}


def files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---- create ------------------------------------------------------------------------------------------


async def test_create_returns_task_and_request_id(client: VideoApiClient, api: FakeVideoApi) -> None:
    created = await client.create(PAYLOAD)
    assert created.task_id in api.tasks
    assert created.request_id


async def test_create_sends_the_payload_with_the_key(client: VideoApiClient, api: FakeVideoApi) -> None:
    await client.create(PAYLOAD)
    [call] = api.create_calls
    assert (call.path, call.json, call.authorized) == ("/v1/video/generations", PAYLOAD, True)


async def test_numeric_task_id_becomes_a_string(session: aiohttp.ClientSession, sleeps: RecordingSleep) -> None:
    async with FakeVideoApi(numeric_ids=True) as api:
        client = VideoApiClient(session, api.base_url, api.api_key, sleep=sleeps)
        created = await client.create(PAYLOAD)
    assert created.task_id.isdigit()
    assert created.task_id in api.tasks


async def test_create_retried_after_429_honours_retry_after(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    api.fail_next("create", "429", retry_after="12")
    await client.create(PAYLOAD)
    assert len(api.create_calls) == 2
    assert sleeps.delays == [12.0]


async def test_a_huge_retry_after_is_slept_only_up_to_the_cap(
    session: aiohttp.ClientSession, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    client = VideoApiClient(
        session, api.base_url, api.api_key, policy=RetryPolicy(max_attempts=2, max_retry_after=45.0), sleep=sleeps
    )
    api.fail_next("status", "429", retry_after="86400")
    task_id = api.add_task()

    await client.status(task_id)

    assert sleeps.delays == [45.0]


async def test_the_retry_after_a_caller_reads_is_capped(
    session: aiohttp.ClientSession, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    # The tracker reschedules by the error's retry_after: it must never learn a longer wait than the cap.
    client = VideoApiClient(session, api.base_url, api.api_key, policy=RetryPolicy(max_retry_after=45.0), sleep=sleeps)
    api.fail_next("create", "429", retry_after="Wed, 21 Oct 2099 07:28:00 GMT")

    with pytest.raises(RateLimited) as caught:
        await client.create(PAYLOAD, max_attempts=1)

    assert caught.value.retry_after == 45.0
    assert sleeps.delays == []


async def test_a_short_retry_after_is_reported_as_it_came(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.fail_next("create", "429", retry_after="7")

    with pytest.raises(RateLimited) as caught:
        await client.create(PAYLOAD, max_attempts=1)

    assert caught.value.retry_after == 7.0


async def test_create_retried_after_429_with_empty_body(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    api.fail_next("create", "429-empty", times=2)
    await client.create(PAYLOAD)
    assert len(api.create_calls) == 3
    assert sleeps.delays == [0.5, 1.0]  # rand=0.5 of the 1 s and 2 s ceilings


async def test_create_retried_after_503_model_not_found(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.fail_next("create", "503-model-not-found")
    await client.create(PAYLOAD)
    assert len(api.create_calls) == 2


async def test_create_with_one_attempt_raises_model_unavailable(client: VideoApiClient, api: FakeVideoApi) -> None:
    # The tracker sends once and handles model_not_found itself (refund, hold the model).
    api.fail_next("create", "503-model-not-found")
    with pytest.raises(ModelUnavailable) as caught:
        await client.create(PAYLOAD, max_attempts=1)
    assert (caught.value.status, caught.value.code) == (503, "model_not_found")
    assert len(api.create_calls) == 1


async def test_create_gives_up_after_max_attempts(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    api.fail_next("create", "429", times=10)
    with pytest.raises(RateLimited):
        await client.create(PAYLOAD)
    assert len(api.create_calls) == 4
    assert len(sleeps.delays) == 3


async def test_create_not_retried_after_500(client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep) -> None:
    api.fail_next("create", "500")
    with pytest.raises(ServerError) as caught:
        await client.create(PAYLOAD)
    assert (caught.value.status, caught.value.code) == (500, "do_request_failed")
    assert len(api.create_calls) == 1
    assert sleeps.delays == []


async def test_create_not_retried_after_connection_dropped_after_send(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    api.fail_next("create", "drop")
    with pytest.raises(ApiConnectionError) as caught:
        await client.create(PAYLOAD)
    assert caught.value.reached is True
    assert len(api.create_calls) == 1
    assert sleeps.delays == []


async def test_create_not_retried_after_read_timeout(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    sleeps = RecordingSleep()
    client = VideoApiClient(session, api.base_url, api.api_key, sleep=sleeps, timeout=0.2)
    api.fail_next("create", "hang", seconds=5)
    with pytest.raises(ApiTimeout) as caught:
        await client.create(PAYLOAD)
    assert caught.value.reached is True
    assert len(api.create_calls) == 1


async def test_create_retried_while_connection_refused(session: aiohttp.ClientSession, sleeps: RecordingSleep) -> None:
    client = VideoApiClient(
        session, f"http://127.0.0.1:{closed_port()}", "sk-x", policy=RetryPolicy(max_attempts=3), sleep=sleeps
    )
    with pytest.raises(ApiConnectionError) as caught:
        await client.create(PAYLOAD)
    assert caught.value.reached is False
    assert len(sleeps.delays) == 2


async def test_create_succeeds_once_the_refusing_host_comes_up(session: aiohttp.ClientSession) -> None:
    port = closed_port()
    started: list[FakeVideoApi] = []

    async def start_server_while_waiting(delay: float) -> None:
        fake = FakeVideoApi(port=port)
        await fake.start()
        started.append(fake)

    client = VideoApiClient(session, f"http://127.0.0.1:{port}", "sk-fake-test-key", sleep=start_server_while_waiting)
    try:
        created = await client.create(PAYLOAD)
        assert created.task_id in started[0].tasks
    finally:
        for fake in started:
            await fake.stop()


@pytest.mark.parametrize(("kind", "error_class"), [("402-quota", NoCredit), ("403-quota", NoCredit)])
async def test_create_out_of_credit(
    client: VideoApiClient, api: FakeVideoApi, kind: str, error_class: type[VideoApiError]
) -> None:
    api.fail_next("create", kind)
    with pytest.raises(error_class):
        await client.create(PAYLOAD)
    assert len(api.create_calls) == 1


async def test_create_kling_rejection_shows_klings_message(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.fail_next("create", "400-kling")
    with pytest.raises(BadRequest, match=r"^Invalid image: image size is too small$"):
        await client.create(PAYLOAD)


async def test_create_with_empty_prompt_is_bad_request(client: VideoApiClient) -> None:
    with pytest.raises(BadRequest, match="prompt is required"):
        await client.create({**PAYLOAD, "prompt": "  "})


async def test_create_with_numeric_metadata_duration_is_not_retried(client: VideoApiClient, api: FakeVideoApi) -> None:
    with pytest.raises(ServerError) as caught:
        await client.create({**PAYLOAD, "metadata": {"duration": 10}})
    assert caught.value.code == "build_request_failed"
    assert len(api.create_calls) == 1


async def test_create_body_over_limit_is_413(session: aiohttp.ClientSession, sleeps: RecordingSleep) -> None:
    async with FakeVideoApi(max_body_bytes=1000) as api:
        client = VideoApiClient(session, api.base_url, api.api_key, sleep=sleeps)
        with pytest.raises(BadRequest) as caught:
            await client.create({**PAYLOAD, "image": "A" * 5000})
    assert caught.value.status == 413


@pytest.mark.parametrize("kind", ["not-json", "no-task-id"])
async def test_create_answer_without_task_id_is_unexpected(
    client: VideoApiClient, api: FakeVideoApi, kind: str
) -> None:
    api.fail_next("create", kind)
    with pytest.raises(UnexpectedResponse):
        await client.create(PAYLOAD)
    assert len(api.create_calls) == 1


# ---- status ------------------------------------------------------------------------------------------


async def test_status_follows_the_task_to_success(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.configure(render_polls=1)
    created = await client.create(PAYLOAD)
    first = await client.status(created.task_id)
    second = await client.status(created.task_id)
    assert (first.phase, second.phase) == (TaskPhase.QUEUED, TaskPhase.SUCCEEDED)
    assert second.video_url == f"{api.base_url}/files/{created.task_id}.mp4"


async def test_status_retried_on_5xx_then_succeeds(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    task_id = api.add_task(render_polls=0)
    api.fail_next("status", "500")
    api.fail_next("status", "502")
    status = await client.status(task_id)
    assert status.phase is TaskPhase.SUCCEEDED
    assert len(sleeps.delays) == 2
    assert api.status_calls(task_id) == 1  # the faults answered before the task was looked at


async def test_status_retry_is_logged_with_the_task_id(
    client: VideoApiClient, api: FakeVideoApi, caplog: pytest.LogCaptureFixture
) -> None:
    task_id = api.add_task()
    api.fail_next("status", "429")
    with caplog.at_level(logging.WARNING, logger="bot.videoapi"):
        await client.status(task_id)
    assert task_id in caplog.text
    assert "RateLimited" in caplog.text


async def test_status_of_unknown_task_is_not_retried(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    with pytest.raises(TaskNotFound):
        await client.status("task_missing")
    assert sleeps.delays == []


async def test_status_quotes_odd_task_ids(client: VideoApiClient, api: FakeVideoApi) -> None:
    task_id = api.add_task("odd id+1")
    await client.status(task_id)
    assert api.status_calls(task_id) == 1


# ---- download ----------------------------------------------------------------------------------------


async def test_download_streams_the_result_url_to_a_file(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    task_id = api.add_task(video_size=3 * 1024 * 1024 + 17)
    dest = tmp_path / "clip.mp4"
    size = await client.download(task_id, f"{api.base_url}/files/{task_id}.mp4", dest)
    assert size == dest.stat().st_size == 3 * 1024 * 1024 + 17
    assert dest.read_bytes()[4:8] == b"ftyp"


async def test_download_without_url_uses_the_content_endpoint_with_the_key(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    task_id = api.add_task(render_polls=0, video_size=5000)
    size = await client.download(task_id, None, tmp_path / "clip.mp4")
    assert size == 5000
    call = api.calls("GET", f"/v1/videos/{task_id}/content")[0]
    assert call.authorized is True


async def test_download_of_unfinished_task_fails_and_leaves_no_file(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    task_id = api.add_task(render_polls=3)
    with pytest.raises(BadRequest):
        await client.download(task_id, None, tmp_path / "clip.mp4")
    assert files_in(tmp_path) == []


async def test_bearer_not_sent_to_a_foreign_host(client: VideoApiClient, tmp_path: Path) -> None:
    async with FakeVideoApi() as cdn:
        cdn.add_task("clip", video_size=2048)
        size = await client.download("task_1", f"{cdn.base_url}/files/clip.mp4", tmp_path / "clip.mp4")
    assert size == 2048
    assert [call.authorized for call in cdn.requests] == [False]


async def test_bearer_not_carried_through_a_redirect_to_a_foreign_host(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    async with FakeVideoApi() as cdn:
        cdn.add_task("clip", video_size=2048)
        target = quote(f"{cdn.base_url}/files/clip.mp4", safe="")
        await client.download("task_1", f"{api.base_url}/redirect?to={target}", tmp_path / "clip.mp4")
    assert api.calls("GET", "/redirect")[0].authorized is True
    assert [call.authorized for call in cdn.requests] == [False]


async def test_foreign_host_403_is_not_an_auth_error(client: VideoApiClient, tmp_path: Path) -> None:
    async with FakeVideoApi() as cdn:
        cdn.fail_next("files", "403-quota")
        with pytest.raises(BadRequest):
            await client.download("task_1", f"{cdn.base_url}/files/clip.mp4", tmp_path / "clip.mp4")


async def test_download_refused_by_content_length_over_max_bytes(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    task_id = api.add_task(video_size=10_000)
    with pytest.raises(DownloadTooLarge) as caught:
        await client.download(task_id, f"{api.base_url}/files/{task_id}.mp4", tmp_path / "clip.mp4", max_bytes=9_999)
    assert caught.value.size == 10_000
    assert files_in(tmp_path) == []


async def test_download_stopped_while_streaming_over_max_bytes(
    client: VideoApiClient, api: FakeVideoApi, tmp_path: Path
) -> None:
    task_id = api.add_task(video_size=2 * 1024 * 1024, send_length=False)
    with pytest.raises(DownloadTooLarge):
        await client.download(
            task_id, f"{api.base_url}/files/{task_id}.mp4", tmp_path / "clip.mp4", max_bytes=1024 * 1024
        )
    assert files_in(tmp_path) == []


async def test_download_exactly_max_bytes_is_allowed(client: VideoApiClient, api: FakeVideoApi, tmp_path: Path) -> None:
    task_id = api.add_task(video_size=4096, send_length=False)
    size = await client.download(task_id, f"{api.base_url}/files/{task_id}.mp4", tmp_path / "clip.mp4", max_bytes=4096)
    assert size == 4096


async def test_download_retried_after_a_server_error(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep, tmp_path: Path
) -> None:
    task_id = api.add_task(video_size=4096)
    api.fail_next("files", "502")
    size = await client.download(task_id, f"{api.base_url}/files/{task_id}.mp4", tmp_path / "clip.mp4")
    assert size == 4096
    assert len(sleeps.delays) == 1


# ---- check -------------------------------------------------------------------------------------------


async def test_check_accepts_the_right_key(client: VideoApiClient, api: FakeVideoApi) -> None:
    await client.check()
    assert api.calls("GET", "/v1/models")[0].authorized is True


async def test_check_refuses_a_wrong_key(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    client = VideoApiClient(session, api.base_url, "sk-wrong", sleep=RecordingSleep())
    with pytest.raises(AuthError) as caught:
        await client.check()
    assert caught.value.status == 401


# ---- model list ----------------------------------------------------------------------------------------


async def test_list_models_gives_the_ids_the_key_may_use(client: VideoApiClient, api: FakeVideoApi) -> None:
    models = await client.list_models()

    assert "kling-v3" in models
    assert all(model and model == model.strip() for model in models)
    assert len(models) == len(set(models))
    call = api.calls("GET", "/v1/models")[0]
    assert call.authorized is True


async def test_list_models_is_retried_after_a_server_error(
    client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    api.fail_next("models", "500")

    assert "kling-v3" in await client.list_models()
    assert len(api.calls("GET", "/v1/models")) == 2
    assert sleeps.delays == [0.5]


async def test_list_models_with_a_wrong_key_is_an_auth_error(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    client = VideoApiClient(session, api.base_url, "sk-wrong", sleep=RecordingSleep())

    with pytest.raises(AuthError):
        await client.list_models()


@pytest.mark.parametrize("fault", ["not-json", "no-task-id"])
async def test_list_models_without_a_data_list_is_unexpected(
    client: VideoApiClient, api: FakeVideoApi, fault: str
) -> None:
    api.fail_next("models", fault)

    with pytest.raises(UnexpectedResponse):
        await client.list_models()


@asynccontextmanager
async def one_answer(path: str, body: object) -> AsyncIterator[str]:
    """A loopback server answering `path` with `body`, for shapes the fake gateway never sends."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get(path, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_list_models_keeps_only_readable_ids(session: aiohttp.ClientSession) -> None:
    entries = [{"id": " veo-3.1 "}, {"id": ""}, {"object": "model"}, "wan2.6-t2v", {"id": 5}, {"id": "wan2.6-t2v"}]
    async with one_answer("/v1/models", {"object": "list", "data": entries}) as base:
        client = VideoApiClient(session, base, "sk-test", sleep=RecordingSleep())

        assert await client.list_models() == ["veo-3.1", "wan2.6-t2v"]


async def test_status_reads_the_video_where_the_table_says(session: aiohttp.ClientSession) -> None:
    url = "https://cdn.example.com/v/wan.mp4"
    body = {"task_id": "task_w", "status": "SUCCEEDED", "output": {"results": [{"video": url}]}}
    async with one_answer("/v1/video/generations/task_w", body) as base:
        client = VideoApiClient(session, base, "sk-test", sleep=RecordingSleep())

        found = await client.status("task_w", video_path="output.results.0.video")
        blind = await client.status("task_w")

    assert (found.phase, found.video_url) == (TaskPhase.SUCCEEDED, url)
    assert blind.video_url is None


# ---- the key never leaks -----------------------------------------------------------------------------

SECRET = "sk-very-secret-key-123"


async def _failures(session: aiohttp.ClientSession, tmp_path: Path) -> list[VideoApiError]:
    errors: list[VideoApiError] = []
    async with FakeVideoApi(echo_token_in_errors=True) as api:
        client = VideoApiClient(
            session, api.base_url, SECRET, policy=RetryPolicy(max_attempts=2), sleep=RecordingSleep()
        )
        for call in (client.check(), client.create(PAYLOAD), client.status("task_x")):
            with pytest.raises(VideoApiError) as caught:
                await call
            errors.append(caught.value)
        with pytest.raises(VideoApiError) as caught:
            await client.download("task_x", None, tmp_path / "x.mp4")
        errors.append(caught.value)
    refused = VideoApiClient(session, f"http://127.0.0.1:{closed_port()}", SECRET, sleep=RecordingSleep())
    with pytest.raises(VideoApiError) as caught:
        await refused.status("task_x")
    errors.append(caught.value)
    return errors


async def test_key_never_in_errors(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    errors = await _failures(session, tmp_path)
    assert any(isinstance(error, AuthError) for error in errors)
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)


async def test_key_never_in_logs(
    session: aiohttp.ClientSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await _failures(session, tmp_path)
    assert "无效的令牌 [redacted]" in caplog.text  # the gateway echoed the key; it was scrubbed before logging
    assert SECRET not in caplog.text


def test_key_not_in_client_repr(session: aiohttp.ClientSession) -> None:
    client = VideoApiClient(session, "http://127.0.0.1:1", SECRET)
    assert SECRET not in repr(client)


# ---- transport failures: was the request sent? ------------------------------------------------------
# Connect timeouts cannot be provoked on loopback, so the mapping itself is checked here.


@pytest.mark.parametrize(
    ("exc", "error_class", "reached"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), ApiTimeout, False),
        (aiohttp.SocketTimeoutError("read"), ApiTimeout, True),
        (TimeoutError(), ApiTimeout, True),
        (aiohttp.ServerDisconnectedError(), ApiConnectionError, True),
        (aiohttp.ClientPayloadError("truncated"), ApiConnectionError, True),
    ],
)
def test_transport_failures_say_whether_the_request_left(
    exc: BaseException, error_class: type[ApiTimeout | ApiConnectionError], reached: bool
) -> None:
    error = transport_error(exc)
    assert isinstance(error, error_class)
    assert error.reached is reached


async def test_key_scrubbed_from_a_failure_reason_the_api_echoed(session: aiohttp.ClientSession) -> None:
    # A task's failure reason is stored and shown to the member: an upstream that echoes the key must not leak it.
    body = {"task_id": "task_k", "status": "FAILURE", "fail_reason": f"upstream refused key {SECRET}"}
    async with one_answer("/v1/video/generations/task_k", body) as base:
        client = VideoApiClient(session, base, SECRET, sleep=RecordingSleep())

        status = await client.status("task_k")

    assert status.failure_reason is not None
    assert SECRET not in status.failure_reason
    assert "[redacted]" in status.failure_reason
