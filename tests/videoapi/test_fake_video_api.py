"""The fake gateway itself: every shape and outcome reads right through the real client, and it can be
steered from another process."""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.domain.models import load_model_table
from bot.videoapi.client import VideoApiClient
from bot.videoapi.status import TaskPhase, TaskStatus
from tests.fakes.discord import AttachmentSpec, FakeDiscord
from tests.fakes.video_api import SHAPES, TIMEOUT_REASON, FakeVideoApi, TaskScript, mp4_chunks
from tests.fakes.video_schemas import MODEL_IDS
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


async def test_admin_api_steers_what_the_video_url_serves(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    task_id = api.add_task()
    config = {"tasks": {task_id: {"body": "html", "redirects": 2}}}
    async with session.post(f"{api.base_url}/_fake/config", json=config) as response:
        assert response.status == 200
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with session.get(f"{api.base_url}/v1/video/generations/{task_id}", headers=headers) as response:
        await response.read()
    async with session.get(f"{api.base_url}/v1/video/generations/{task_id}", headers=headers) as response:
        await response.read()
    async with session.get(f"{api.base_url}/v1/video/generations/{task_id}", headers=headers) as response:
        url = (await response.json())["url"]

    async with session.get(url) as response:
        body = await response.read()

    assert url == f"{api.base_url}/hops/{task_id}/2"
    assert response.content_type == "video/mp4"
    assert body.startswith(b"<!doctype html>")
    assert len(api.calls("GET", "/hops/")) == 2


async def test_admin_api_refuses_an_unknown_body(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    async with session.post(f"{api.base_url}/_fake/config", json={"defaults": {"body": "gif"}}) as response:
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


# ---- every model family: what the gateway accepts, refuses, and how it answers -------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
B64 = base64.b64encode(PNG).decode()
DATA_URI = f"data:image/png;base64,{B64}"
URL1, URL2 = "https://cdn.example/first.png", "https://cdn.example/last.png"

# One request per model id that the gateway takes as a whole, written from modelstream-models.md.
VALID: dict[str, dict[str, Any]] = {
    "kling-v3": {
        "prompt": "a fox",
        "duration": 10,
        "mode": "pro",
        "image": B64,
        "metadata": {
            "aspect_ratio": "16:9",
            "cfg_scale": 0.5,
            "negative_prompt": "blur",
            "sound": "on",
            "watermark_info": {"enabled": False},
            "image_tail": URL2,
        },
    },
    "seedance-2.0": {
        "prompt": "[Image 1] runs",
        "duration": 5,
        "seconds": "5",
        "images": [DATA_URI],
        "metadata": {
            "duration": 5,
            "resolution": "1080p",
            "ratio": "21:9",
            "generate_audio": True,
            "seed": 42,
            "watermark": False,
            "content": [{"type": "image_url", "image_url": {"url": URL1}, "role": "reference_image"}],
        },
    },
    "veo-3.1": {
        "prompt": "a storm",
        "duration": 8,
        "images": [DATA_URI],
        "metadata": {
            "durationSeconds": 8,
            "aspectRatio": "9:16",
            "resolution": "1080p",
            "generateAudio": True,
            "negativePrompt": "rain",
            "seed": 42,
        },
    },
    "wan2.6-t2v": {
        "prompt": "a kite",
        "duration": 15,
        "resolution": "720P",
        "ratio": "4:3",
        "negative_prompt": "blur",
        "seed": 2147483647,
        "watermark": False,
        "prompt_extend": True,
    },
    "wan2.6-i2v-flash": {
        "prompt": "it moves",
        "img_url": URL1,
        "audio": True,
        "resolution": "1080P",
        "duration": 2,
        "seed": 0,
        "watermark": True,
    },
    "wan2.6-r2v": {
        "prompt": "character1 waves at character2",
        "refs": [URL1, URL2],
        "size": "1920*1080",
        "duration": 10,
        "audio": False,
        "watermark": False,
        "seed": 5,
    },
    "wan2.7-t2v": {"prompt": "a kite", "duration": 5, "resolution": "1080P", "ratio": "9:16", "seed": 3},
    "wan2.7-i2v": {
        "prompt": "it moves",
        "image": URL1,
        "images": [URL1, URL2],
        "metadata": {"last_frame_url": URL2},
        "duration": 5,
        "resolution": "720P",
        "watermark": False,
    },
    "wan2.7-r2v": {
        "prompt": "Image 1 dances",
        "metadata": {"input": {"media": [{"type": "reference_image", "url": URL1}]}},
        "ratio": "1:1",
        "resolution": "720P",
        "duration": 15,
    },
    "happyhorse-1.0-t2v": {"prompt": "a horse", "ratio": "3:4", "resolution": "720P", "duration": 3, "seed": 1},
    "happyhorse-1.0-i2v": {"prompt": "it gallops", "img_url": URL1, "duration": 15, "watermark": True},
    "happyhorse-1.0-r2v": {
        "prompt": "[Image 1] runs",
        "images": [URL1] * 9,
        "ratio": "21:9",
        "resolution": "720P",
        "duration": 5,
        "watermark": False,
        "seed": 3,
    },
    "viduq3": {"prompt": "a bird", "duration": 16, "aspect_ratio": "9:16", "resolution": "540p", "audio": False},
    "viduq3-pro": {
        "prompt": "a bird lands",
        "image": URL1,
        "images": [URL1, URL2],
        "duration": 1,
        "resolution": "1080p",
        "audio": True,
        "seed": 7,
    },
}


def body_for(model: str, **changes: Any) -> dict[str, Any]:
    """The valid body of `model` with dotted paths changed (None removes the key)."""
    body = copy.deepcopy({"model": model, **VALID[model]})
    for path, value in changes.items():
        *parents, last = path.split("__")
        place = body
        for key in parents:
            place = place.setdefault(key, {})
        if value is None:
            place.pop(last, None)
        else:
            place[last] = value
    return body


async def post(session: aiohttp.ClientSession, api: FakeVideoApi, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with session.post(f"{api.base_url}/v1/video/generations", json=body, headers=headers) as response:
        return response.status, await response.json()


def test_the_fake_knows_every_model_id_of_the_shipped_table() -> None:
    shipped = {mode.api_id for spec in load_model_table() for mode in spec.modes.values()}
    assert shipped <= set(MODEL_IDS) == set(VALID)


@pytest.mark.parametrize("model", sorted(VALID))
async def test_each_models_own_request_is_taken_with_nothing_dropped(
    session: aiohttp.ClientSession, api: FakeVideoApi, model: str
) -> None:
    status, answer = await post(session, api, body_for(model))

    assert status == 200, answer
    assert api.tasks[answer["task_id"]].ignored == []


FAMILY_SHAPE = {"kling-v3": "A", "seedance-2.0": "seedance", "veo-3.1": "veo", "wan2.6-t2v": "dashscope"}
FAMILY_SHAPE |= {"happyhorse-1.0-r2v": "dashscope", "viduq3": "vidu"}


@pytest.mark.parametrize("model", sorted(FAMILY_SHAPE))
async def test_each_family_answers_in_its_own_shape_and_the_client_reads_it(
    client: VideoApiClient, api: FakeVideoApi, model: str, tmp_path: Path
) -> None:
    api.configure(render_polls=2, video_size=1000)
    created = await client.create(body_for(model))

    seen = await poll_until_done(client, created.task_id)

    assert api.tasks[created.task_id].script.shape == FAMILY_SHAPE[model]
    assert [s.phase for s in seen] == [TaskPhase.QUEUED, TaskPhase.RUNNING, TaskPhase.SUCCEEDED]
    if model == "veo-3.1":
        assert seen[-1].video_url is None  # Veo's status never has one: the bytes are at /content
    else:
        assert seen[-1].video_url == f"{api.base_url}/files/{created.task_id}.mp4"
    assert await client.download(created.task_id, seen[-1].video_url, tmp_path / "clip.mp4") == 1000


async def test_where_each_family_keeps_the_video(session: aiohttp.ClientSession, api: FakeVideoApi) -> None:
    found = {}
    for model in ("seedance-2.0", "wan2.6-t2v", "viduq3"):
        task_id = (await post(session, api, body_for(model)))[1]["task_id"]
        api.set_script(task_id, render_polls=0)
        async with session.get(
            f"{api.base_url}/v1/video/generations/{task_id}", headers={"Authorization": f"Bearer {api.api_key}"}
        ) as response:
            found[model] = await response.json()
    url = found["seedance-2.0"]["data"]["data"]["content"]["video_url"]
    assert url.endswith(".mp4") and "result_url" not in found["seedance-2.0"]["data"]
    assert (found["wan2.6-t2v"]["status"], found["wan2.6-t2v"]["output"]["task_status"]) == ("SUCCEEDED",) * 2
    assert found["wan2.6-t2v"]["output"]["video_url"].endswith(".mp4")
    assert found["viduq3"]["data"]["data"]["creations"][0]["url"].endswith(".mp4")


@pytest.mark.parametrize(
    ("model", "outcome"), [("wan2.6-t2v", "PENDING"), ("seedance-2.0", "QUEUED"), ("viduq3", "QUEUED")]
)
async def test_family_shapes_say_queued_in_their_own_words(
    client: VideoApiClient, api: FakeVideoApi, model: str, outcome: str
) -> None:
    created = await client.create(body_for(model))

    status = await client.status(created.task_id)

    assert (status.phase, status.raw_status) == (TaskPhase.QUEUED, outcome)


@pytest.mark.parametrize("model", ["seedance-2.0", "wan2.6-t2v", "veo-3.1"])
async def test_family_failures_carry_the_reason(client: VideoApiClient, api: FakeVideoApi, model: str) -> None:
    api.configure(render_polls=0, outcome="failure", failure_reason="Unsafe prompt")
    created = await client.create(body_for(model))

    status = await client.status(created.task_id)

    assert status.phase is TaskPhase.FAILED
    assert status.failure_reason is not None and "Unsafe prompt" in status.failure_reason


async def test_a_scripted_shape_wins_over_the_family(client: VideoApiClient, api: FakeVideoApi) -> None:
    api.configure(shape="B")
    created = await client.create(body_for("wan2.6-t2v"))
    assert api.tasks[created.task_id].script.shape == "B"


REFUSED: dict[str, tuple[dict[str, Any], int, str, str]] = {
    # model and changes -> HTTP status, task-style code, a fragment of the message
    "wan_i2v_without_img_url": ({"model": "wan2.6-i2v-flash", "img_url": None}, 400, "invalid_request", "img_url"),
    "happyhorse_r2v_without_images": (
        {"model": "happyhorse-1.0-r2v", "images": None},
        400,
        "invalid_request",
        "images is required",
    ),
    "happyhorse_r2v_ten_images": (
        {"model": "happyhorse-1.0-r2v", "images": [URL1] * 10},
        400,
        "fail_to_fetch_task",
        "1-9",
    ),
    "wan27_r2v_without_reference": (
        {"model": "wan2.7-r2v", "metadata": {}},
        400,
        "invalid_request",
        "reference_image",
    ),
    "kling_numeric_metadata_duration": (
        {"model": "kling-v3", "metadata__duration": 10},
        500,
        "build_request_failed",
        "cannot unmarshal number",
    ),
    "kling_sound_as_bool": (
        {"model": "kling-v3", "metadata__sound": True},
        500,
        "build_request_failed",
        "sound",
    ),
    "kling_duration_16": ({"model": "kling-v3", "duration": 16}, 400, "fail_to_fetch_task", "out of range"),
    "kling_21_9": ({"model": "kling-v3", "metadata__aspect_ratio": "21:9"}, 400, "fail_to_fetch_task", "21:9"),
    "kling_data_uri": ({"model": "kling-v3", "image": DATA_URI}, 400, "fail_to_fetch_task", "Invalid image"),
    "kling_shots_not_adding_up": (
        {
            "model": "kling-v3",
            "image": None,
            "metadata__image_tail": None,
            "metadata__multi_shot": True,
            "metadata__shot_type": "customize",
            "metadata__multi_prompt": [{"index": 1, "prompt": "a", "duration": "3"}],
        },
        400,
        "fail_to_fetch_task",
        "add up to 3 s",
    ),
    "veo_http_image": ({"model": "veo-3.1", "images": [URL1]}, 400, "invalid_request", "http URLs"),
    "veo_ten_seconds": ({"model": "veo-3.1", "metadata__durationSeconds": 10}, 400, "fail_to_fetch_task", "10"),
    "wan_lowercase_resolution": (
        {"model": "wan2.6-t2v", "resolution": "720p"},
        400,
        "fail_to_fetch_task",
        "720p",
    ),
    "vidu_uppercase_resolution": ({"model": "viduq3", "resolution": "720P"}, 400, "fail_to_fetch_task", "720P"),
    "wan_seed_as_text": ({"model": "wan2.6-t2v", "seed": "42"}, 400, "invalid_request", "seed"),
    "wan_metadata_seed_as_text": (
        {"model": "wan2.6-t2v", "seed": None, "metadata__seed": "42"},
        500,
        "build_request_failed",
        "seed",
    ),
    "wan_seed_too_big": ({"model": "wan2.6-t2v", "seed": 2147483648}, 400, "fail_to_fetch_task", "seed"),
    "wan_r2v_eleven_seconds": ({"model": "wan2.6-r2v", "duration": 11}, 400, "fail_to_fetch_task", "duration"),
    "wan_r2v_unknown_size": ({"model": "wan2.6-r2v", "size": "16:9"}, 400, "fail_to_fetch_task", "size"),
    "url_model_given_base64": ({"model": "wan2.6-i2v-flash", "img_url": B64}, 400, "fail_to_fetch_task", "URL"),
    "seedance_bare_base64": ({"model": "seedance-2.0", "images": [B64]}, 400, "fail_to_fetch_task", "data: URI"),
    "seedance_last_frame_alone": (
        {
            "model": "seedance-2.0",
            "metadata__content": [{"type": "image_url", "image_url": {"url": URL2}, "role": "last_frame"}],
        },
        400,
        "fail_to_fetch_task",
        "last_frame needs a first_frame",
    ),
    "seedance_three_seconds": ({"model": "seedance-2.0", "metadata__duration": 3}, 400, "fail_to_fetch_task", "4, 15"),
    "viduq3_two_seconds": ({"model": "viduq3", "duration": 2}, 400, "fail_to_fetch_task", "duration"),
    "duration_as_words": ({"model": "wan2.7-t2v", "duration": "five"}, 400, "invalid_request", "duration"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_what_the_gateway_refuses_is_refused_with_its_envelope(
    session: aiohttp.ClientSession, api: FakeVideoApi, case: tuple[dict[str, Any], int, str, str]
) -> None:
    changes, status, code, fragment = case
    changes = dict(changes)
    model = changes.pop("model")

    got, answer = await post(session, api, body_for(model, **changes))

    assert (got, answer["code"], answer["data"]) == (status, code, None)
    assert fragment in answer["message"]
    assert api.tasks == {}


async def test_a_float_duration_is_silently_dropped_as_the_gateway_does(
    session: aiohttp.ClientSession, api: FakeVideoApi
) -> None:
    status, answer = await post(session, api, body_for("kling-v3", duration=7.0))

    assert status == 200
    assert api.tasks[answer["task_id"]].ignored == ["duration"]


async def test_keys_the_gateway_does_not_read_are_reported_as_dropped(
    session: aiohttp.ClientSession, api: FakeVideoApi
) -> None:
    body = body_for("kling-v3", seed=42, metadata__seed=42, aspect_ratio="16:9")

    status, answer = await post(session, api, body)

    assert status == 200
    assert api.tasks[answer["task_id"]].ignored == ["aspect_ratio", "metadata.seed", "seed"]


@pytest.mark.parametrize("model", ["sora-2", "veo-3.1"])
async def test_a_model_the_key_cant_use_is_503_model_not_found(
    session: aiohttp.ClientSession, api: FakeVideoApi, model: str
) -> None:
    api.withdraw("veo-3.1")

    status, answer = await post(session, api, {"model": model, "prompt": "a cat"})

    assert status == 503
    assert answer["error"]["code"] == "model_not_found" and model in answer["error"]["message"]
    assert api.tasks == {}


async def test_models_lists_what_the_key_can_use_and_is_configurable(
    session: aiohttp.ClientSession, api: FakeVideoApi
) -> None:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with session.get(f"{api.base_url}/v1/models", headers=headers) as response:
        listed = [entry["id"] for entry in (await response.json())["data"]]
    async with session.post(f"{api.base_url}/_fake/config", json={"models": ["kling-v3"]}) as response:
        assert response.status == 200
    async with session.get(f"{api.base_url}/v1/models", headers=headers) as response:
        after = [entry["id"] for entry in (await response.json())["data"]]

    assert listed == list(MODEL_IDS)
    assert after == ["kling-v3"]


async def test_image_urls_on_loopback_are_fetched_and_an_expired_one_fails_the_create(
    session: aiohttp.ClientSession, api: FakeVideoApi
) -> None:
    async with FakeDiscord() as discord:
        att = discord.serve_attachment(AttachmentSpec("frame.png", PNG, "image/png"))
        expired = discord.attachment_url(att, lifetime=-1)

        live = await post(session, api, body_for("wan2.6-i2v-flash", img_url=att.url))
        dead = await post(session, api, body_for("wan2.6-i2v-flash", img_url=expired))

    assert live[0] == 200
    assert (dead[0], dead[1]["code"]) == (400, "fail_to_fetch_task")
    assert "HTTP 404" in dead[1]["message"]
    assert api.image_fetches == [(att.url, 200), (expired, 404)]
