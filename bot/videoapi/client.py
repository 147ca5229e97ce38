"""The ModelStream video API client: create a task, read its status, stream its video to a file.

The aiohttp session, `sleep` and `rand` are injected so retries can be tested without waiting. The key is
sent only to the API's own origin and scrubbed from every response body before anything is built from it.
Every attempt is counted in `bot.metrics.API_CALLS` by call and outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.metrics import API_CALLS
from bot.videoapi.download import MAX_ERROR_BODY, DownloadLimits, VideoFetch, origin_of, read_limited
from bot.videoapi.errors import (
    UnexpectedResponse,
    UnsafeVideoUrl,
    VideoApiError,
    cap_retry_after,
    error_from_response,
    error_kind,
    transport_error,
)
from bot.videoapi.payload import encode_payload
from bot.videoapi.retry import RetryPolicy, backoff_delay, is_retryable
from bot.videoapi.status import TaskStatus, parse_status

log = logging.getLogger(__name__)

T = TypeVar("T")

_REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
_REDACTED = b"[redacted]"


@dataclass(frozen=True)
class CreatedTask:
    """A task the API accepted; `task_id` is opaque (gateway `task_...` or an old numeric Kling id)."""

    task_id: str
    request_id: str | None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class VideoApiClient:
    """Talks to the ModelStream (New API) video endpoints with one key."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        rand: Callable[[], float] = random.random,
        download_limits: DownloadLimits = DownloadLimits(),  # noqa: B008 - frozen dataclass, safe as a default
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._policy = policy
        self._sleep = sleep
        self._rand = rand
        connect = min(connect_timeout, timeout)
        # A separate connect timeout tells "never sent" (safe to repeat a create) from "no answer".
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect)
        self._download_limits = download_limits
        # The download's own deadline and minimum rate bound the whole transfer; aiohttp only catches a dead read.
        self._fetch = VideoFetch(
            session,
            api_origin=origin_of(URL(self._base)),
            api_headers={"Authorization": f"Bearer {api_key}"},
            scrub=self._scrub,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=timeout),
            limits=download_limits,
        )

    def __repr__(self) -> str:
        return f"VideoApiClient(base_url={self._base!r})"

    async def create(self, payload: Mapping[str, Any], *, max_attempts: int | None = None) -> CreatedTask:
        """Submit a render. Repeated only when the request certainly never reached the API.

        `max_attempts` overrides the policy: the tracker passes 1 and retries itself, so a render never sits in
        its "sending" state through a long Retry-After.
        """
        body = encode_payload(payload)

        async def attempt() -> CreatedTask:
            answer = await self._call("POST", "/v1/video/generations", body=body)
            request_id = answer.headers.get(_REQUEST_ID_HEADER)
            task_id = _task_id(_json(answer))
            if task_id is None:
                raise UnexpectedResponse(
                    "The video API accepted the request but returned no task id", request_id=request_id
                )
            return CreatedTask(task_id=task_id, request_id=request_id)

        created = await self._retrying(attempt, call="create", create=True, what="create", max_attempts=max_attempts)
        log.info("Video task %s created (request id %s)", created.task_id, created.request_id)
        return created

    async def status(
        self, task_id: str, *, video_path: str | None = None, max_attempts: int | None = None
    ) -> TaskStatus:
        """The task's current status, whatever shape the gateway answers in (`video_path`: see parse_status).

        `max_attempts` overrides the policy: the tracker passes 1, so every status call it makes has passed its
        cap on calls per second, and it retries on its own schedule.
        """

        async def attempt() -> TaskStatus:
            answer = await self._call("GET", f"/v1/video/generations/{_segment(task_id)}", task_lookup=True)
            log.debug("Video task %s status body: %.500r", task_id, answer.body)
            return parse_status(_json(answer), video_path)

        status = await self._retrying(
            attempt, call="status", create=False, what=f"status of task {task_id}", max_attempts=max_attempts
        )
        log.debug("Video task %s is %s (%s)", task_id, status.phase, status.raw_status)
        return status

    async def download(
        self,
        task_id: str,
        url: str | None,
        dest: Path,
        *,
        max_bytes: int | None = None,
        max_attempts: int | None = None,
    ) -> int:
        """Stream the task's video to `dest` and return its size in bytes.

        `url` is the result URL from the status (None: the gateway's `/v1/videos/{id}/content`); it is untrusted
        (see `bot.videoapi.download`). Raises `DownloadTooLarge` beyond `max_bytes`, `NotAVideo` (and its
        `UnsafeVideoUrl`) when the body is no video or the URL is not one to fetch, `DownloadStalled` when it
        comes too slowly or not within the deadline (retries included). On any failure no partial file is left.
        `max_attempts` overrides the policy: 1 lets the caller retry on its own schedule, outside its slots.
        """
        call = "download" if url else "content"
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + self._download_limits.deadline

        async def attempt() -> int:
            if url:
                try:
                    target = URL(url)
                except ValueError:
                    raise UnsafeVideoUrl("The video URL is not a URL") from None
            else:
                target = URL(f"{self._base}/v1/videos/{_segment(task_id)}/content", encoded=True)
            return await self._fetch(target, dest, max_bytes=max_bytes, deadline_at=deadline_at)

        size = await self._retrying(
            attempt,
            call=call,
            create=False,
            what=f"download of task {task_id}",
            max_attempts=max_attempts,
            deadline_at=deadline_at,
        )
        log.info("Video task %s downloaded: %d bytes", task_id, size)
        return size

    async def check(self) -> None:
        """One authenticated call, to learn at start-up whether the key works (raises `AuthError` etc.)."""
        await self.list_models()
        log.info("Video API at %s accepted the key", self._base)

    async def list_models(self) -> list[str]:
        """The ids of the models this key may use (`GET /v1/models`, OpenAI's list shape)."""

        async def attempt() -> list[str]:
            answer = await self._call("GET", "/v1/models")
            body = _json(answer)
            entries = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(entries, list):
                raise UnexpectedResponse("The video API's model list has no `data` list", status=answer.status)
            return [
                entry["id"].strip()
                for entry in entries
                if isinstance(entry, Mapping) and isinstance(entry.get("id"), str) and entry["id"].strip()
            ]

        return await self._retrying(attempt, call="models", create=False, what="model list")

    async def _retrying(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        call: str,
        create: bool,
        what: str,
        max_attempts: int | None = None,
        deadline_at: float | None = None,
    ) -> T:
        """Run `operation` until it succeeds, fails for good, runs out of attempts or would pass `deadline_at`
        (event-loop time); each attempt is counted under `call` in API_CALLS."""
        limit = max_attempts if max_attempts is not None else self._policy.max_attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await operation()
            except VideoApiError as error:
                API_CALLS.labels(call, error_kind(error)).inc()
                cap_retry_after(error, self._policy.max_retry_after)
                if attempt >= limit or not is_retryable(error, create=create):
                    log.warning("Video API %s failed: %s (%s)", what, _describe(error), error)
                    raise
                delay = backoff_delay(attempt, self._policy, getattr(error, "retry_after", None), self._rand)
                if deadline_at is not None and asyncio.get_running_loop().time() + delay >= deadline_at:
                    log.warning("Video API %s failed: %s (%s); no time left to retry", what, _describe(error), error)
                    raise
                log.warning(
                    "Video API %s failed: %s; retry %d/%d in %.1f s",
                    what,
                    _describe(error),
                    attempt,
                    limit - 1,
                    delay,
                )
                await self._sleep(delay)
            except Exception as error:
                # Not the API's doing (a local disk error, a bug), but the call still failed: counted, not retried.
                API_CALLS.labels(call, error_kind(error)).inc()
                raise
            else:
                API_CALLS.labels(call, "ok").inc()
                return result

    async def _call(self, method: str, path: str, *, body: bytes | None = None, task_lookup: bool = False) -> _Answer:
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                URL(self._base + path, encoded=True),
                data=body,
                headers=headers,
                timeout=self._timeout,
                # Never follow: a redirect could carry the key to another host.
                allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    data = await response.read()
                else:
                    data = await read_limited(response, MAX_ERROR_BODY)
                # Scrubbed whatever the status: a task's failure reason is shown to members and stored.
                answer = _Answer(response.status, self._scrub(data), response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise transport_error(exc) from exc
        if not 200 <= answer.status < 300:
            raise error_from_response(answer.status, answer.body, answer.headers, task_lookup=task_lookup)
        return answer

    def _scrub(self, body: bytes) -> bytes:
        # A gateway may echo the token it refused; it must not reach a message, a log line or a member.
        if not self._api_key:
            return body
        return body.replace(self._api_key.encode("utf-8"), _REDACTED)


def _json(answer: _Answer) -> object:
    try:
        return json.loads(answer.body)
    except ValueError:
        raise UnexpectedResponse(
            "The video API answered with something that is not JSON",
            status=answer.status,
            request_id=answer.headers.get(_REQUEST_ID_HEADER),
        ) from None


def _task_id(body: object) -> str | None:
    """`task_id`, else `id`, at the top or inside a `{code, data}` envelope; numeric ids become strings."""
    if not isinstance(body, Mapping):
        return None
    places: list[object] = [body]
    inner = body.get("data")
    if isinstance(inner, Mapping):
        places.append(inner)
    elif isinstance(inner, (str, int)):
        places.append({"task_id": inner})
    for place in places:
        assert isinstance(place, Mapping)
        for key in ("task_id", "id"):
            value = place.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int) or (isinstance(value, str) and value.strip()):
                return str(value).strip()
    return None


def _segment(task_id: str) -> str:
    return quote(task_id, safe="")


def _describe(error: VideoApiError) -> str:
    parts = [type(error).__name__]
    if error.status is not None:
        parts.append(f"HTTP {error.status}")
    if error.code:
        parts.append(error.code)
    if error.request_id:
        parts.append(f"request id {error.request_id}")
    return ", ".join(parts)
