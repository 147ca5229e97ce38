"""A fake ModelStream (New API) video gateway: a real aiohttp server on loopback.

In tests: `async with FakeVideoApi() as api:` then point a client at `api.base_url`; script tasks
(`api.configure(...)`, `api.script_next(...)`, `api.set_script(task_id, ...)`), inject faults
(`api.fail_next("create", "429")`) and assert on `api.requests` / `api.status_calls(task_id)`.

The video itself (the result URL, `/files/{id}.mp4`, and `/v1/videos/{id}/content`) can misbehave as an untrusted
host would: `body` "html" (a web page served as video/mp4), "trickle" (the clip at `body_rate` bytes a second),
"endless" (a video head, then bytes for ever); `redirects` sends the result URL through that many 302 hops, the
last of them to `redirect_target` when set (a file:// or ftp:// URL, say); `video_file` serves a real file.

As a process (end-to-end tests, benchmarks):
    python -m tests.fakes.video_api --port 0 --shape B --render-polls 2 [--state-file F]
prints `READY http://127.0.0.1:<port>` once listening. Another process steers it through the admin API:
`POST /_fake/config` with `{"defaults": {...TaskScript fields}, "faults": [{"endpoint": "create",
"kind": "429", "times": 2}], "tasks": {"<id>": {...}}}`, `GET /_fake/requests`, `GET /_fake/tasks`,
`POST /_fake/reset`.

Every model id of the shipped table is known (`video_schemas.py`): a create is checked against what the
gateway accepts for that model (required fields, types, ranges, how images are sent) and refused with the real
envelopes; a model the fake does not serve (`api.models`, also what `GET /v1/models` lists) is answered 503
`model_not_found`. Images sent by URL are fetched when they point at loopback (the fake Discord's CDN), as the
model would, so an expired attachment URL fails the create. What the gateway silently dropped is kept in
`api.tasks[id].ignored`.

Status shapes (see modelstream-api.md): "A" flat lower-case, "B" `{code,message,data}` with Kling's JSON
nested, "B-old" like B with the video URL in `fail_reason`, "C" OpenAI video object, "D" flat upper-case
without URL; per family (modelstream-models.md §7): "seedance" (B envelope, Ark's `content.video_url`
nested), "dashscope" (Wan/HappyHorse: `output.video_url`, PENDING/RUNNING/SUCCEEDED), "vidu" (B envelope,
`creations[0].url` nested), "veo" (no URL at all: the video is only at /v1/videos/{id}/content). A script
without a shape answers in its model's family shape (Kling and unknown models: "A"). Outcomes: "success",
"failure", "stuck" (never finishes), "timeout" (gateway FAILURE while the nested upstream status still says
processing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import string
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.fakes.video_schemas import (
    MODEL_IDS,
    SCHEMAS,
    Rejection,
    Schema,
    check_body,
    image_format,
    inline_image,
    is_http_url,
    upstream_rejection,
)

SHAPES = ("A", "B", "B-old", "C", "D", "seedance", "dashscope", "vidu", "veo")
# The status shape each model family answers in when a test scripts none.
FAMILY_SHAPES = {
    "kling": "A",
    "seedance": "seedance",
    "veo": "veo",
    "wan": "dashscope",
    "happyhorse": "dashscope",
    "vidu": "vidu",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
OUTCOMES = ("success", "failure", "stuck", "timeout")
ENDPOINTS = ("create", "status", "content", "models", "files")
FAULT_KINDS = (
    "429",  # OpenAI-style envelope
    "429-empty",  # empty body, as some gateway versions send
    "429-concurrency",  # the per-key concurrency gate: token_concurrency_limit_reached
    "500",  # task-style do_request_failed
    "502",  # a proxy's HTML page
    "503-model-not-found",  # no channel serves the model: refused before any upstream call
    "402-quota",
    "403-quota",
    "400-kling",  # task-style fail_to_fetch_task with Kling's JSON as the message
    "drop",  # read the request, then close the connection without answering
    "hang",  # answer only after `seconds`
    "slow",  # answer as usual, after `seconds`
    "not-json",  # 200 with a body that is not JSON
    "no-task-id",  # 200 JSON without any id
)
BODIES = ("mp4", "html", "trickle", "endless")
MB = 1024 * 1024
TIMEOUT_REASON = "任务超时（1440分钟）"
_CHUNK = b"\x00" * (64 * 1024)


@dataclass
class TaskScript:
    """How one task behaves. With `render_seconds` set, time decides when it is done, else status calls do."""

    shape: str | None = None  # None: the task's model family decides (see FAMILY_SHAPES)
    render_polls: int = 2  # status calls that still answer "not done"; the next one shows the outcome
    render_seconds: float | None = None
    outcome: str = "success"
    failure_reason: str = "The content did not pass the safety review"
    video_size: int = 256 * 1024
    video_url: str | None = None  # overrides the result URL (e.g. a second fake acting as a foreign CDN)
    send_length: bool = True  # False: the video is sent chunked, without Content-Length
    body: str = "mp4"  # what the video URL serves: see BODIES
    body_rate: int | None = None  # bytes a second for "trickle" and "endless" (None: as fast as it goes)
    redirects: int = 0  # 302 hops before the video (the result URL points at the first)
    redirect_target: str | None = None  # where the last hop points instead of the video
    video_file: str | None = None  # serve this file's bytes (a real MP4) instead of the generated ones

    def __post_init__(self) -> None:
        if self.shape is not None and self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.body not in BODIES:
            raise ValueError(f"unknown body {self.body!r}")


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: str | None = None  # Retry-After header for the 429 kinds
    seconds: float = 30.0  # for "hang"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    json: Any  # the parsed JSON body, None when absent or not JSON
    headers: dict[str, str]  # without Authorization
    authorized: bool  # whether an Authorization header was present at all


@dataclass
class FakeTask:
    task_id: str
    script: TaskScript
    created_at: float
    request: Any = None
    status_calls: int = 0
    ignored: list[str] = field(default_factory=list)  # body values the gateway dropped (dotted paths)


class FakeVideoApi:
    """The fake gateway. Everything is plain attributes so tests can read and change them directly."""

    def __init__(
        self,
        *,
        api_key: str = "sk-fake-test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        defaults: TaskScript | None = None,
        max_body_bytes: int = 32 * MB,
        numeric_ids: bool = False,
        echo_token_in_errors: bool = False,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        models: list[str] | None = None,
        fetch_images: bool = True,
    ) -> None:
        self.api_key = api_key
        # The model ids this key can use: listed by /v1/models; a create for any other is 503 model_not_found.
        self.models: list[str] = list(MODEL_IDS if models is None else models)
        # Images sent by URL are fetched (loopback only, never the internet) as the model would fetch them.
        self.fetch_images = fetch_images
        self.image_fetches: list[tuple[str, int]] = []  # (url, HTTP status or 0 when unreachable)
        self.defaults = defaults or TaskScript()
        self.max_body_bytes = max_body_bytes
        self.numeric_ids = numeric_ids
        self.echo_token_in_errors = echo_token_in_errors
        self.tasks: dict[str, FakeTask] = {}
        self.requests: list[RecordedRequest] = []
        # The key's concurrency gate: with this many tasks unfinished, a create is refused with 429
        # token_concurrency_limit_reached (counted in `concurrency_refusals`). None: no gate.
        self.concurrency_limit: int | None = None
        self.concurrency_refusals = 0
        self._host = host
        self._port = port
        self._state_file = state_file
        self._clock = clock
        self._next_scripts: deque[TaskScript] = deque()
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""
        if state_file is not None and state_file.exists():
            self._load_state(state_file)

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record], client_max_size=self.max_body_bytes + MB)
        app.add_routes(
            [
                web.post("/v1/video/generations", self._create),
                web.post("/v1/videos", self._create),
                web.get("/v1/video/generations/{task_id}", self._status),
                web.get("/v1/videos/{task_id}", self._status),
                web.get("/v1/videos/{task_id}/content", self._content),
                web.get("/v1/models", self._models),
                web.get("/files/{task_id}.mp4", self._file),
                web.get("/redirect", self._redirect),
                web.get("/hops/{task_id}/{left}", self._hop),
                web.post("/_fake/config", self._admin_config),
                web.post("/_fake/reset", self._admin_reset),
                web.get("/_fake/requests", self._admin_requests),
                web.get("/_fake/tasks", self._admin_tasks),
            ]
        )
        # A short shutdown timeout: a "hang" fault must not hold the test up when the server stops.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self._host}:{port}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVideoApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- scripting -----------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change the script every new task starts from (fields of `TaskScript`)."""
        self.defaults = replace(self.defaults, **changes)

    def script_next(self, *scripts: TaskScript) -> None:
        """Scripts for the next creates, in order; afterwards `defaults` applies again."""
        self._next_scripts.extend(scripts)

    def set_script(self, task_id: str, **changes: Any) -> None:
        """Change an existing task's script (after its create)."""
        task = self.tasks[task_id]
        task.script = replace(task.script, **changes)
        self._save_state()

    def add_task(self, task_id: str | None = None, script: TaskScript | None = None, **changes: Any) -> str:
        """A task as if created earlier, without a create call."""
        task_id = task_id or self._new_task_id()
        self.tasks[task_id] = FakeTask(task_id, replace(script or self.defaults, **changes), self._clock())
        self._save_state()
        return task_id

    def fail_next(
        self, endpoint: str, kind: str, *, times: int = 1, retry_after: str | None = None, seconds: float = 30.0
    ) -> None:
        """The next `times` calls to `endpoint` (one of ENDPOINTS) answer with the fault `kind`."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        fault = Fault(kind, retry_after=retry_after, seconds=seconds)
        self._faults[endpoint].extend([fault] * times)

    def running_tasks(self) -> int:
        """Tasks not finished yet (what the key's concurrency gate counts)."""
        return sum(self._phase(task) in ("queued", "running") for task in self.tasks.values())

    def status_calls(self, task_id: str) -> int:
        return self.tasks[task_id].status_calls

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path_prefix)]

    @property
    def create_calls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path in ("/v1/video/generations", "/v1/videos")]

    def withdraw(self, *models: str) -> None:
        """Stop serving these model ids: their creates answer 503 model_not_found, /v1/models leaves them out."""
        self.models = [model for model in self.models if model not in models]

    def reset(self) -> None:
        self.defaults = TaskScript()
        self.models = list(MODEL_IDS)
        self.image_fetches.clear()
        self.tasks.clear()
        self.requests.clear()
        self.concurrency_limit = None
        self.concurrency_refusals = 0
        self._next_scripts.clear()
        for queue in self._faults.values():
            queue.clear()
        self._save_state()

    # ---- API handlers --------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            response: web.StreamResponse = await handler(request)
            return response
        body: Any = None
        length = request.content_length or 0
        if request.can_read_body and length <= self.max_body_bytes:
            raw = await request.read()
            with contextlib.suppress(ValueError):
                body = json.loads(raw) if raw else None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                json=body,
                headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
                authorized="Authorization" in request.headers,
            )
        )
        response = await handler(request)
        return response

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._check_key(request)) is not None:
            return refusal
        if (request.content_length or 0) > self.max_body_bytes:
            return self._openai_error(413, "request body too large", "request_body_too_large")
        if (fault := await self._take_fault("create", request)) is not None:
            return fault
        if self.concurrency_limit is not None and self.running_tasks() >= self.concurrency_limit:
            self.concurrency_refusals += 1
            return self._concurrency_refusal({})
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._openai_error(400, "invalid request body", "invalid_request")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._openai_error(400, "model is required and must be a string", "invalid_request")
        model = body["model"]
        if model not in self.models:
            # The distributor finds no channel for the model before the request is even read.
            return self._model_not_found(model)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return self._task_error(400, "invalid_request", "prompt is required")
        if isinstance(body.get("metadata"), str):
            try:
                body = {**body, "metadata": json.loads(body["metadata"])}
            except ValueError:
                return self._task_error(400, "invalid_request", "metadata is not valid JSON")
        ignored: list[str] = []
        schema = SCHEMAS.get(model)
        try:
            if schema is not None:
                checked = check_body(schema, body)
                ignored = checked.ignored
                for where, image in checked.images:
                    await self._check_image(schema, where, image)
            elif _has_numeric_duration(body.get("metadata") or {}):
                raise Rejection(
                    500, "build_request_failed", "json: cannot unmarshal number into Go struct field of type string"
                )
        except Rejection as refused:
            return self._task_error(refused.status, refused.code, refused.message)
        script = self._next_scripts.popleft() if self._next_scripts else self.defaults
        if script.shape is None:
            family = schema.family if schema is not None else "kling"
            script = replace(script, shape=FAMILY_SHAPES.get(family, "A"))
        task_id = self._new_task_id()
        self.tasks[task_id] = FakeTask(task_id, replace(script), self._clock(), request=body, ignored=ignored)
        self._save_state()
        wire_id: str | int = int(task_id) if self.numeric_ids else task_id
        return self._json(
            200,
            {
                "id": wire_id,
                "task_id": wire_id,
                "object": "video",
                "model": model,
                "status": "queued",
                "progress": 0,
                "created_at": int(self._clock()),
            },
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._check_key(request)) is not None:
            return refusal
        if (fault := await self._take_fault("status", request)) is not None:
            return fault
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._task_error(400, "task_not_exist", "task_not_exist")
        phase = self._phase(task)
        task.status_calls += 1
        self._save_state()
        return self._json(200, _render(task, phase, self._result_url(request, task)))

    async def _content(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._check_key(request)) is not None:
            return refusal
        if (fault := await self._take_fault("content", request)) is not None:
            return fault
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._task_error(404, "task_not_exist", "task_not_exist")
        if self._phase(task) != "success":
            return self._task_error(400, "invalid_request", "task is not finished yet")
        return await _stream_video(request, task.script)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """The 'CDN' a result URL points at: no key needed."""
        if (fault := await self._take_fault("files", request)) is not None:
            return fault
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return web.Response(status=404, text="Not Found")
        return await _stream_video(request, task.script)

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        """`/redirect?to=<url>`: a 302, to check that the key does not follow a redirect to another host."""
        raise web.HTTPFound(request.query["to"])

    async def _hop(self, request: web.Request) -> web.StreamResponse:
        """One of a task's `redirects` hops: on to the next, and from the last to the video (or its target)."""
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return web.Response(status=404, text="Not Found")
        left = int(request.match_info["left"])
        origin = str(request.url.origin())
        if left > 1:
            raise web.HTTPFound(f"{origin}/hops/{task.task_id}/{left - 1}")
        # The Location header is written as is: aiohttp would refuse to build a redirect to some schemes.
        target = task.script.redirect_target or f"{origin}/files/{task.task_id}.mp4"
        return web.Response(status=302, headers={"Location": target})

    def _result_url(self, request: web.Request, task: FakeTask) -> str:
        script = task.script
        if script.video_url:
            return script.video_url
        origin = str(request.url.origin())
        if script.redirects or script.redirect_target:
            return f"{origin}/hops/{task.task_id}/{max(1, script.redirects)}"
        return f"{origin}/files/{task.task_id}.mp4"

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (refusal := self._check_key(request)) is not None:
            return refusal
        if (fault := await self._take_fault("models", request)) is not None:
            return fault
        listed = [{"id": model, "object": "model", "owned_by": "custom"} for model in self.models]
        return self._json(200, {"object": "list", "data": listed, "success": True})

    # ---- admin API (for other processes) -------------------------------------------------------------

    async def _admin_config(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        try:
            if "defaults" in body:
                self.configure(**body["defaults"])
            for fault in body.get("faults", ()):
                fault = dict(fault)
                endpoint = fault.pop("endpoint")
                kind = fault.pop("kind")
                self.fail_next(endpoint, kind, **fault)
            for task_id, changes in body.get("tasks", {}).items():
                if task_id in self.tasks:
                    self.set_script(task_id, **changes)
                else:
                    self.add_task(task_id, **changes)
            for name in ("api_key", "max_body_bytes", "numeric_ids", "echo_token_in_errors", "models", "fetch_images"):
                if name in body:
                    setattr(self, name, body[name])
        except (TypeError, ValueError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"defaults": asdict(self.defaults)})

    async def _admin_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"ok": True})

    async def _admin_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(r) for r in self.requests])

    async def _admin_tasks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({task_id: _task_json(task) for task_id, task in self.tasks.items()})

    # ---- helpers -------------------------------------------------------------------------------------

    def _phase(self, task: FakeTask) -> str:
        """queued | running | success | failure | timeout, from the script and what happened so far."""
        script = task.script
        if script.render_seconds is not None:
            elapsed = self._clock() - task.created_at
            finished = elapsed >= script.render_seconds
            early = elapsed < script.render_seconds / 3
        else:
            # Counted before the current status call: `render_polls` calls answer "not done".
            finished = task.status_calls >= script.render_polls
            early = task.status_calls == 0
        if script.outcome == "stuck" or not finished:
            return "queued" if early else "running"
        return script.outcome

    def _check_key(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if token == self.api_key:
            return None
        message = f"无效的令牌 {token}" if self.echo_token_in_errors and token else "无效的令牌"
        return self._openai_error(401, message, "")

    async def _take_fault(self, endpoint: str, request: web.Request) -> web.StreamResponse | None:
        queue = self._faults[endpoint]
        if not queue:
            return None
        fault = queue.popleft()
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        kind = fault.kind
        if kind == "429":
            return self._openai_error(429, "当前分组上游负载已饱和，请稍后再试", "rate_limit_exceeded", headers)
        if kind == "429-empty":
            return web.Response(status=429, headers={**headers, **self._id_header()})
        if kind == "429-concurrency":
            return self._concurrency_refusal(headers)
        if kind == "500":
            return self._task_error(500, "do_request_failed", "upstream error: do request failed")
        if kind == "502":
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if kind == "503-model-not-found":
            model = "kling-v3"
            with contextlib.suppress(ValueError, AttributeError):
                model = str(json.loads(await request.read()).get("model") or model)
            return self._model_not_found(model, headers)
        if kind in ("402-quota", "403-quota"):
            return self._task_error(int(kind[:3]), "insufficient_user_quota", "用户额度不足, 剩余额度: $0.00")
        if kind == "400-kling":
            kling = {"code": 1201, "message": "Invalid image: image size is too small", "request_id": "kling-req-1"}
            return self._task_error(400, "fail_to_fetch_task", json.dumps(kling))
        if kind == "drop":
            await request.read()
            assert request.transport is not None
            request.transport.abort()
            # Nothing can be written any more; aiohttp drops what the handler returns.
            return web.Response(status=500)
        if kind == "not-json":
            return web.Response(status=200, text="OK", content_type="text/plain")
        if kind == "no-task-id":
            return self._json(200, {"object": "video", "status": "queued"})
        if kind == "slow":
            await asyncio.sleep(fault.seconds)
            return None
        await asyncio.sleep(fault.seconds)  # "hang"
        return self._json(200, {})

    def _openai_error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        request_id = self._id_header()
        body = {
            "error": {
                "message": f"{message} (request id: {request_id['X-Oneapi-Request-Id']})",
                "type": "new_api_error",
                "code": code,
            }
        }
        return web.json_response(body, status=status, headers={**(headers or {}), **request_id})

    def _concurrency_refusal(self, headers: dict[str, str]) -> web.Response:
        return self._openai_error(429, "该令牌并发请求数已达上限", "token_concurrency_limit_reached", headers)

    def _model_not_found(self, model: str, headers: dict[str, str] | None = None) -> web.Response:
        return self._openai_error(503, f"当前分组 default 下对于模型 {model} 无可用渠道", "model_not_found", headers)

    async def _check_image(self, schema: Schema, where: str, image: str) -> None:
        """Check one image as the model would take it; a URL is fetched when it points at loopback."""
        if not is_http_url(image):
            inline_image(schema, where, image)
            return
        if schema.transport == "data_uri_or_base64":
            raise Rejection(
                400, "invalid_request", f"{where} must be base64 or a data: URI; http URLs are not supported"
            )
        if not self.fetch_images or URL(image).host not in LOOPBACK or self._session is None:
            return  # never the internet: a public URL is taken on trust
        try:
            async with self._session.get(image) as response:
                status = response.status
                data = await response.read() if status == 200 else b""
        except (aiohttp.ClientError, TimeoutError):
            status, data = 0, b""
        self.image_fetches.append((image, status))
        if status != 200:
            raise upstream_rejection(
                schema.family, f"Download the media resource failed: {where} answered HTTP {status or 'nothing'}"
            )
        if image_format(data) is None:
            raise upstream_rejection(schema.family, f"{where} is not an image the model can read")

    def _task_error(self, status: int, code: str, message: str) -> web.Response:
        return self._json(status, {"code": code, "message": message, "data": None})

    def _json(self, status: int, body: Any) -> web.Response:
        return web.json_response(body, status=status, headers=self._id_header(), dumps=_dumps)

    @staticmethod
    def _id_header() -> dict[str, str]:
        return {"X-Oneapi-Request-Id": time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)}

    def _new_task_id(self) -> str:
        if self.numeric_ids:
            return str(secrets.randbelow(9 * 10**17) + 10**17)
        alphabet = string.ascii_letters + string.digits
        return "task_" + "".join(secrets.choice(alphabet) for _ in range(32))

    def _save_state(self) -> None:
        if self._state_file is None:
            return
        state = {"defaults": asdict(self.defaults), "tasks": {i: _task_json(t) for i, t in self.tasks.items()}}
        tmp = self._state_file.with_name(self._state_file.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._state_file)

    def _load_state(self, path: Path) -> None:
        state = json.loads(path.read_text(encoding="utf-8"))
        self.defaults = TaskScript(**state.get("defaults", {}))
        for task_id, data in state.get("tasks", {}).items():
            self.tasks[task_id] = FakeTask(
                task_id,
                TaskScript(**data["script"]),
                data["created_at"],
                request=data.get("request"),
                status_calls=data.get("status_calls", 0),
                ignored=list(data.get("ignored", [])),
            )


# ---- status shapes -----------------------------------------------------------------------------------

_PROGRESS = {"queued": 20, "running": 30, "success": 100, "failure": 100, "timeout": 100}


def _render(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    shape = task.script.shape or FAMILY_SHAPES.get(_family(task), "A")
    if shape == "A":
        return _shape_a(task, phase, url)
    if shape in ("B", "B-old"):
        return _shape_b(task, phase, url, old=shape == "B-old")
    if shape == "C":
        return _shape_c(task, phase, url)
    if shape == "seedance":
        return _shape_seedance(task, phase, url)
    if shape == "dashscope":
        return _shape_dashscope(task, phase, url)
    if shape == "vidu":
        return _shape_vidu(task, phase, url)
    if shape == "veo":
        return _shape_veo(task, phase)
    return _shape_d(task, phase)


def _model(task: FakeTask) -> str:
    request = task.request if isinstance(task.request, dict) else {}
    return str(request.get("model") or "kling-v3")


def _family(task: FakeTask) -> str:
    schema = SCHEMAS.get(_model(task))
    return schema.family if schema is not None else "kling"


def _reason(task: FakeTask, phase: str) -> str:
    return TIMEOUT_REASON if phase == "timeout" else task.script.failure_reason


def _duration(task: FakeTask) -> int:
    request = task.request if isinstance(task.request, dict) else {}
    duration = request.get("duration", 5)
    return int(duration) if isinstance(duration, (int, str)) and str(duration).isdigit() else 5


def _shape_a(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    words = {"queued": "queued", "running": "in_progress", "success": "completed"}
    failed = phase in ("failure", "timeout")
    return {
        "task_id": task.task_id,
        "status": words.get(phase, "failed"),
        "url": url if phase == "success" else None,
        "format": "mp4",
        "metadata": {"duration": _duration(task), "fps": 24, "width": 1280, "height": 720, "seed": 0},
        "error": {"code": "task_failed", "message": _reason(task, phase)} if failed else None,
    }


def _shape_b(task: FakeTask, phase: str, url: str, *, old: bool) -> dict[str, Any]:
    words = {"queued": "QUEUED", "running": "IN_PROGRESS", "success": "SUCCESS"}
    kling_words = {"queued": "submitted", "running": "processing", "success": "succeed", "failure": "failed"}
    failed = phase in ("failure", "timeout")
    fail_reason = _reason(task, phase) if failed else ""
    created = int(task.created_at)
    data: dict[str, Any] = {
        "id": zlib.crc32(task.task_id.encode()) % 100000,
        "task_id": task.task_id,
        "platform": "kling",
        "user_id": 1,
        "group": "default",
        "channel_id": 1,
        "quota": 0,
        "action": "generate" if isinstance(task.request, dict) and task.request.get("image") else "textGenerate",
        "status": words.get(phase, "FAILURE"),
        "fail_reason": fail_reason,
        "submit_time": created,
        "start_time": created,
        "finish_time": created + 60 if phase in ("success", "failure", "timeout") else 0,
        "progress": f"{_PROGRESS[phase]}%",
        "properties": {"upstream_model_name": "kling-v3", "origin_model_name": "kling-v3"},
    }
    if old:
        # Gateways before ~Jan 2026: no result_url, the video URL travels in fail_reason.
        if phase == "success":
            data["fail_reason"] = url
    else:
        data["result_url"] = url if phase == "success" else ""
        # A gateway timeout leaves Kling's own status at processing; only the top level says FAILURE.
        kling: dict[str, Any] = {
            "task_id": "8" + str(zlib.crc32(task.task_id.encode())),
            "task_status": kling_words.get(phase, "processing"),
            "task_status_msg": fail_reason if phase == "failure" else "",
            "created_at": created * 1000,
            "updated_at": created * 1000,
        }
        if phase == "success":
            kling["task_result"] = {"videos": [{"id": "v1", "url": url, "duration": str(_duration(task))}]}
        data["data"] = kling
    return {"code": "success", "message": "", "data": data}


def _shape_c(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    words = {"queued": "queued", "running": "in_progress", "success": "completed"}
    failed = phase in ("failure", "timeout")
    created_ms = int(task.created_at * 1000)
    body: dict[str, Any] = {
        "id": task.task_id,
        "task_id": task.task_id,
        "object": "video",
        "model": _model(task),
        "status": words.get(phase, "failed"),
        "progress": _PROGRESS[phase],
        "created_at": created_ms,
        "seconds": str(_duration(task)),
        "metadata": {"url": url} if phase == "success" else {},
    }
    if phase in ("success", "failure", "timeout"):
        body["completed_at"] = created_ms + 60000
    if failed:
        body["error"] = {"message": _reason(task, phase), "code": "task_failed"}
    return body


def _shape_d(task: FakeTask, phase: str) -> dict[str, Any]:
    words = {"queued": "QUEUED", "running": "IN_PROGRESS", "success": "SUCCESS"}
    failed = phase in ("failure", "timeout")
    return {
        "task_id": task.task_id,
        "status": words.get(phase, "FAILURE"),
        "progress": f"{_PROGRESS[phase]}%",
        "fail_reason": _reason(task, phase) if failed else "",
        "created_at": int(task.created_at),
        "finished_at": int(task.created_at) + 60 if phase != "queued" and phase != "running" else 0,
        "platform": "kling",
    }


_GATEWAY_WORDS = {"queued": "QUEUED", "running": "IN_PROGRESS", "success": "SUCCESS"}


def _envelope(task: FakeTask, phase: str, upstream: dict[str, Any], platform: str, reason: str) -> dict[str, Any]:
    """New API's task answer (shape B) around a provider's raw JSON, without result_url: the URL is only where
    the provider put it."""
    created = int(task.created_at)
    done = phase in ("success", "failure", "timeout")
    data = {
        "id": zlib.crc32(task.task_id.encode()) % 100000,
        "task_id": task.task_id,
        "platform": platform,
        "action": "generate" if isinstance(task.request, dict) and task.request.get("images") else "textGenerate",
        "status": _GATEWAY_WORDS.get(phase, "FAILURE"),
        "fail_reason": reason if phase in ("failure", "timeout") else "",
        "submit_time": created,
        "start_time": created,
        "finish_time": created + 60 if done else 0,
        "progress": f"{_PROGRESS[phase]}%",
        "properties": {"upstream_model_name": _model(task), "origin_model_name": _model(task)},
        "data": upstream,
    }
    return {"code": "success", "message": "", "data": data}


def _shape_seedance(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    """Ark's task JSON nested in New API's envelope: the video at data.data.content.video_url."""
    words = {"queued": "queued", "running": "running", "success": "succeeded", "failure": "failed"}
    ark: dict[str, Any] = {
        "id": "cgt-" + task.task_id.removeprefix("task_")[:20],
        "model": _model(task),
        "status": words.get(phase, "running"),  # Ark still runs when the gateway gave up
        "created_at": int(task.created_at),
        "updated_at": int(task.created_at),
    }
    if phase == "success":
        ark["content"] = {"video_url": url}
        ark["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        ark["duration"] = _duration(task)
    if phase == "failure":
        ark["error"] = {"code": "OutputVideoSensitiveContentDetected", "message": task.script.failure_reason}
    return _envelope(task, phase, ark, "doubao", _reason(task, phase))


def _shape_dashscope(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    """DashScope's own task answer (Wan, HappyHorse): status words PENDING/RUNNING/SUCCEEDED/FAILED, the video at
    output.video_url; the gateway adds its task id, the status and, on failure, its reason line."""
    words = {"queued": "PENDING", "running": "RUNNING", "success": "SUCCEEDED", "failure": "FAILED"}
    word = words.get(phase, "UNKNOWN")
    output: dict[str, Any] = {
        "task_id": "ds-" + task.task_id.removeprefix("task_")[:24],
        "task_status": word,
        "submit_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created_at)),
    }
    body: dict[str, Any] = {"request_id": secrets.token_hex(8), "task_id": task.task_id, "status": word}
    if phase == "success":
        output["video_url"] = url
        body["usage"] = {"duration": _duration(task), "video_count": 1}
    if phase in ("failure", "timeout"):
        output["code"] = "DataInspectionFailed" if phase == "failure" else "Timeout"
        output["message"] = _reason(task, phase)
        body["status"] = "FAILED"
        body["fail_reason"] = f"task failed, code: {output['code']}, message: {output['message']}"
    body["output"] = output
    return body


def _shape_vidu(task: FakeTask, phase: str, url: str) -> dict[str, Any]:
    """Vidu's task JSON nested in New API's envelope: the video at data.data.creations[0].url; a failure carries
    only Vidu's err_code."""
    words = {"queued": "queueing", "running": "processing", "success": "success", "failure": "failed"}
    vidu: dict[str, Any] = {"id": str(zlib.crc32(task.task_id.encode())), "state": words.get(phase, "processing")}
    vidu["creations"] = [{"id": "c1", "url": url, "cover_url": url + ".jpg"}] if phase == "success" else []
    if phase == "failure":
        vidu["err_code"] = "AuditSubmitIllegal"
    return _envelope(task, phase, vidu, "vidu", _reason(task, phase) if phase == "timeout" else "AuditSubmitIllegal")


def _shape_veo(task: FakeTask, phase: str) -> dict[str, Any]:
    """Veo: an OpenAI-style video object with no URL anywhere: the bytes are only at /v1/videos/{id}/content."""
    words = {"queued": "queued", "running": "in_progress", "success": "completed"}
    body: dict[str, Any] = {
        "id": task.task_id,
        "task_id": task.task_id,
        "object": "video",
        "model": _model(task),
        "status": words.get(phase, "failed"),
        "progress": _PROGRESS[phase],
        "created_at": int(task.created_at),
        "seconds": str(_duration(task)),
    }
    if phase in ("failure", "timeout"):
        body["error"] = {"message": _reason(task, phase), "code": "task_failed"}
    return body


# ---- helpers -----------------------------------------------------------------------------------------


def _has_numeric_duration(metadata: Any) -> bool:
    """Kling types durations as strings; the gateway fails a request whose metadata sends numbers."""
    if not isinstance(metadata, dict):
        return False
    if isinstance(metadata.get("duration"), (int, float)):
        return True
    shots = metadata.get("multi_prompt")
    return isinstance(shots, list) and any(
        isinstance(s, dict) and isinstance(s.get("duration"), (int, float)) for s in shots
    )


def mp4_chunks(size: int) -> Iterator[bytes]:
    """An mp4-looking file of exactly `size` bytes, produced piecewise so its size costs no memory."""
    ftyp = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    mdat = max(0, size - len(ftyp)).to_bytes(4, "big") + b"mdat"
    head = (ftyp + mdat)[:size]
    yield head
    remaining = size - len(head)
    while remaining > 0:
        piece = _CHUNK if remaining >= len(_CHUNK) else _CHUNK[:remaining]
        remaining -= len(piece)
        yield piece


NOT_A_VIDEO = (
    b"<!doctype html><html><head><title>Access denied</title></head>"
    b"<body><h1>403</h1><p>This link has expired.</p></body></html>\n"
)


def _body(script: TaskScript) -> tuple[Iterator[bytes], int | None]:
    """The pieces the video URL sends, and their total size (None: no end)."""
    if script.body == "html":
        return iter([NOT_A_VIDEO]), len(NOT_A_VIDEO)
    if script.body == "endless":
        return _endless(), None
    if script.video_file is not None:
        data = Path(script.video_file).read_bytes()
        return iter([data]), len(data)
    return mp4_chunks(script.video_size), script.video_size


def _endless() -> Iterator[bytes]:
    yield from mp4_chunks(len(_CHUNK))
    while True:
        yield _CHUNK


def _paced(pieces: Iterator[bytes], rate: int) -> Iterator[tuple[bytes, float]]:
    """`pieces` cut so that they go out at about `rate` bytes a second: (bytes, seconds to wait after them)."""
    tick = 0.05
    size = max(1, int(rate * tick))
    for piece in pieces:
        for start in range(0, len(piece), size):
            yield piece[start : start + size], tick


async def _stream_video(request: web.Request, script: TaskScript) -> web.StreamResponse:
    pieces, size = _body(script)
    response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
    if script.send_length and size is not None:
        response.content_length = size
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    paced = script.body in ("trickle", "endless") and script.body_rate is not None
    try:
        if paced:
            assert script.body_rate is not None
            for piece, wait in _paced(pieces, script.body_rate):
                await response.write(piece)
                await asyncio.sleep(wait)
        else:
            for piece in pieces:
                await response.write(piece)
                # A socket that takes everything never makes write() wait: an endless body would hold the loop.
                await asyncio.sleep(0)
        await response.write_eof()
    except ConnectionError:
        pass  # the client stopped reading (e.g. a size limit); nothing to clean up
    return response


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _task_json(task: FakeTask) -> dict[str, Any]:
    return {
        "script": asdict(task.script),
        "created_at": task.created_at,
        "request": task.request,
        "status_calls": task.status_calls,
        "ignored": task.ignored,
    }


# ---- standalone process ------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.video_api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on the READY line)")
    parser.add_argument("--api-key", default=os.environ.get("FAKE_VIDEO_API_KEY", "sk-fake-test-key"))
    parser.add_argument("--state-file", type=Path, default=None, help="keep tasks here across restarts")
    parser.add_argument("--shape", choices=SHAPES, default=None, help="default: each model family's own shape")
    parser.add_argument("--outcome", choices=OUTCOMES, default="success")
    parser.add_argument("--render-polls", type=int, default=2)
    parser.add_argument("--render-seconds", type=float, default=None)
    parser.add_argument("--video-size", type=int, default=256 * 1024)
    parser.add_argument("--max-body-mb", type=float, default=32.0)
    parser.add_argument("--numeric-ids", action="store_true")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    defaults = TaskScript(
        shape=args.shape,
        outcome=args.outcome,
        render_polls=args.render_polls,
        render_seconds=args.render_seconds,
        video_size=args.video_size,
    )
    api = FakeVideoApi(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        defaults=defaults,
        max_body_bytes=int(args.max_body_mb * MB),
        numeric_ids=args.numeric_ids,
        state_file=args.state_file,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        print(f"READY {api.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
