"""The fake gateway itself: every shape and outcome reads right through the real client, and it can be
steered from another process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.videoapi.client import VideoApiClient
from bot.videoapi.status import TaskPhase, TaskStatus
from tests.fakes.video_api import SHAPES, TIMEOUT_REASON, FakeVideoApi, TaskScript, mp4_chunks
from tests.videoapi.conftest import RecordingSleep

PAYLOAD = {"model": "kling-v3", "prompt": "a fox", "duration": 5, "mode": "std", "metadata": {}}
REPO = Path(__file__).resolve().parents[2]


async def poll_until_done(client: VideoApiClient, task_id: str, limit: int = 10) -> list[TaskStatus]:
    seen = [await client.status(task_id)]
    while seen[-1].phase in (TaskPhase.QUEUED, TaskPhase.RUNNING) and len(seen) < limit:
        seen.append(await client.status(task_id))
    return seen


@pytest.mark.parametrize("shape", SHAPES)
async def test_every_shape_succeeds_and_the_video_can_be_fetched(
    client: VideoApiClient, api: FakeVideoApi, shape: str, tmp_path: Path
) -> None:
    api.configure(shape=shape, render_polls=2, video_size=1000)
    created = await client.create(PAYLOAD)
    seen = await poll_until_done(client, created.task_id)
    assert [s.phase for s in seen] == [TaskPhase.QUEUED, TaskPhase.RUNNING, TaskPhase.SUCCEEDED]
    size = await client.download(created.task_id, seen[-1].video_url, tmp_path / "clip.mp4")
    assert size == 1000


@pytest.mark.parametrize("shape", ["A", "B", "B-old", "C"])
async def test_shapes_with_a_url_point_at_the_files_route(
    client: VideoApiClient, api: FakeVideoApi, shape: str
) -> None:
    task_id = api.add_task(shape=shape, render_polls=0)
    assert (await client.status(task_id)).video_url == f"{api.base_url}/files/{task_id}.mp4"


async def test_shape_d_has_no_url(client: VideoApiClient, api: FakeVideoApi) -> None:
    task_id = api.add_task(shape="D", render_polls=0)
    assert (await client.status(task_id)).video_url is None


@pytest.mark.parametrize("shape", ["A", "B", "B-old", "D"])
async def test_failure_reason_reaches_the_client(client: VideoApiClient, api: FakeVideoApi, shape: str) -> None:
    task_id = api.add_task(shape=shape, render_polls=0, outcome="failure", failure_reason="Unsafe prompt")
    status = await client.status(task_id)
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, "Unsafe prompt")


async def test_gateway_timeout_in_shape_b_is_a_failure(client: VideoApiClient, api: FakeVideoApi) -> None:
    task_id = api.add_task(shape="B", render_polls=0, outcome="timeout")
    status = await client.status(task_id)
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, TIMEOUT_REASON)


async def test_stuck_task_never_finishes(client: VideoApiClient, api: FakeVideoApi) -> None:
    task_id = api.add_task(render_polls=0, outcome="stuck")
    seen = await poll_until_done(client, task_id, limit=5)
    assert seen[-1].phase is TaskPhase.RUNNING
    assert api.status_calls(task_id) == 5


async def test_render_seconds_follow_the_clock(session: aiohttp.ClientSession) -> None:
    now = [1000.0]
    async with FakeVideoApi(clock=lambda: now[0], defaults=TaskScript(render_seconds=60)) as api:
        client = VideoApiClient(session, api.base_url, api.api_key, sleep=RecordingSleep())
        task_id = api.add_task()
        before = await client.status(task_id)
        now[0] += 60
        after = await client.status(task_id)
    assert (before.phase, after.phase) == (TaskPhase.QUEUED, TaskPhase.SUCCEEDED)


async def test_script_next_applies_to_the_next_create_only(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.script_next(TaskScript(shape="C", outcome="failure"))
    first = await client.create(PAYLOAD)
    second = await client.create(PAYLOAD)
    assert (api.tasks[first.task_id].script.shape, api.tasks[second.task_id].script.shape) == ("C", "A")


async def test_script_can_change_after_create(client: VideoApiClient, api: FakeVideoApi) -> None:
    created = await client.create(PAYLOAD)
    api.set_script(created.task_id, render_polls=0, outcome="failure")
    assert (await client.status(created.task_id)).phase is TaskPhase.FAILED


@pytest.mark.parametrize("size", [0, 5, 31, 32, 33, 200_000])
def test_mp4_chunks_add_up_to_the_size(size: int) -> None:
    assert sum(len(chunk) for chunk in mp4_chunks(size)) == size


async def test_admin_api_sets_defaults_and_faults_and_returns_the_log(
    session: aiohttp.ClientSession, client: VideoApiClient, api: FakeVideoApi, sleeps: RecordingSleep
) -> None:
    config = {"defaults": {"shape": "D"}, "faults": [{"endpoint": "create", "kind": "429", "times": 1}]}
    async with session.post(f"{api.base_url}/_fake/config", json=config) as response:
        assert response.status == 200
    created = await client.create(PAYLOAD)
    async with session.get(f"{api.base_url}/_fake/requests") as response:
        log = await response.json()
    assert [entry["path"] for entry in log] == ["/v1/video/generations", "/v1/video/generations"]
    assert "Authorization" not in log[0]["headers"]
    assert api.tasks[created.task_id].script.shape == "D"


async def test_admin_api_refuses_an_unknown_fault(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    config = {"faults": [{"endpoint": "create", "kind": "meltdown"}]}
    async with session.post(f"{api.base_url}/_fake/config", json=config) as response:
        assert response.status == 400


async def test_state_file_keeps_tasks_across_restarts(client: VideoApiClient, tmp_path: Path) -> None:
    state = tmp_path / "fake.json"
    async with FakeVideoApi(state_file=state) as first:
        task_id = first.add_task(shape="B", render_polls=1)
        first.tasks[task_id].status_calls = 1
        first.set_script(task_id, video_size=1234)
    restarted = FakeVideoApi(state_file=state)
    assert restarted.tasks[task_id].script.video_size == 1234
    assert restarted.tasks[task_id].status_calls == 1


async def test_runs_as_a_separate_process(session: aiohttp.ClientSession) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.video_api",
        "--port",
        "0",
        "--shape",
        "B",
        "--render-polls",
        "0",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()
        assert line.startswith("READY http://127.0.0.1:")
        client = VideoApiClient(session, line.removeprefix("READY "), "sk-fake-test-key", sleep=RecordingSleep())
        created = await client.create(PAYLOAD)
        status = await client.status(created.task_id)
        assert (status.phase, status.raw_status) == (TaskPhase.SUCCEEDED, "SUCCESS")
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
