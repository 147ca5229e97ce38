"""The ModelStream video API client: create a task, read its status, stream its video to a file.

The aiohttp session, `sleep` and `rand` are injected so retries can be tested without waiting. The key is
sent only to the API's own origin and scrubbed from every response body before an error is built from it.
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

from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    DownloadTooLarge,
    UnexpectedResponse,
    VideoApiError,
    error_from_file_host,
    error_from_response,
)
from bot.videoapi.payload import encode_payload
from bot.videoapi.retry import RetryPolicy, backoff_delay, is_retryable
from bot.videoapi.status import TaskStatus, parse_status

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK = 256 * 1024
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# How much of an error body is read; enough for any JSON envelope, bounded for a misbehaving server.
_MAX_ERROR_BODY = 64 * 1024
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
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._origin = _origin(URL(self._base))
        self._api_key = api_key
        self._policy = policy
        self._sleep = sleep
        self._rand = rand
        connect = min(connect_timeout, timeout)
        # A separate connect timeout tells "never sent" (safe to repeat a create) from "no answer".
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect)
        # A large video takes longer than any sane total; only a stalled read is an error.
        self._download_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=timeout)

    def __repr__(self) -> str:
        return f"VideoApiClient(base_url={self._base!r})"

    async def create(self, payload: Mapping[str, Any], *, max_attempts: int | None = None) -> CreatedTask:
        """Submit a render. Repeated only when the request certainly never reached the API.

        `max_attempts` overrides the policy: the tracker passes 1 and retries itself, so a render never sits in
        its "sending" state through a long Retry-After.
        """
        body = encode_payload(payload)

        async def attempt() -> _Answer:
            return await self._call("POST", "/v1/video/generations", body=body)

        answer = await self._retrying(attempt, create=True, what="create", max_attempts=max_attempts)
        request_id = answer.headers.get(_REQUEST_ID_HEADER)
        task_id = _task_id(_json(answer))
        if task_id is None:
            raise UnexpectedResponse(
                "The video API accepted the request but returned no task id", request_id=request_id
            )
        log.info("Video task %s created (request id %s)", task_id, request_id)
        return CreatedTask(task_id=task_id, request_id=request_id)

    async def status(
        self, task_id: str, *, video_path: str | None = None, max_attempts: int | None = None
    ) -> TaskStatus:
        """The task's current status, whatever shape the gateway answers in (`video_path`: see parse_status).

        `max_attempts` overrides the policy: the tracker passes 1, so every status call it makes has passed its
        cap on calls per second, and it retries on its own schedule.
        """

        async def attempt() -> _Answer:
            return await self._call("GET", f"/v1/video/generations/{_segment(task_id)}", task_lookup=True)

        answer = await self._retrying(
            attempt, create=False, what=f"status of task {task_id}", max_attempts=max_attempts
        )
        log.debug("Video task %s status body: %.500r", task_id, answer.body)
        status = parse_status(_json(answer), video_path)
        log.debug("Video task %s is %s (%s)", task_id, status.phase, status.raw_status)
        return status

    async def download(self, task_id: str, url: str | None, dest: Path, *, max_bytes: int | None = None) -> int:
        """Stream the task's video to `dest` and return its size in bytes.

        `url` is the result URL from the status (None: the gateway's `/v1/videos/{id}/content`). Raises
        `DownloadTooLarge` beyond `max_bytes`; on any failure no partial file is left behind.
        """
        target = URL(url) if url else URL(f"{self._base}/v1/videos/{_segment(task_id)}/content", encoded=True)

        async def attempt() -> int:
            return await self._download_once(task_id, target, dest, max_bytes)

        size = await self._retrying(attempt, create=False, what=f"download of task {task_id}")
        log.info("Video task %s downloaded: %d bytes", task_id, size)
        return size

    async def check(self) -> None:
        """One authenticated call, to learn at start-up whether the key works (raises `AuthError` etc.)."""
        await self.list_models()
        log.info("Video API at %s accepted the key", self._base)

    async def list_models(self) -> list[str]:
        """The ids of the models this key may use (`GET /v1/models`, OpenAI's list shape)."""

        async def attempt() -> _Answer:
            return await self._call("GET", "/v1/models")

        answer = await self._retrying(attempt, create=False, what="model list")
        body = _json(answer)
        entries = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            raise UnexpectedResponse("The video API's model list has no `data` list", status=answer.status)
        return [
            entry["id"].strip()
            for entry in entries
            if isinstance(entry, Mapping) and isinstance(entry.get("id"), str) and entry["id"].strip()
        ]

    async def _retrying(
        self, operation: Callable[[], Awaitable[T]], *, create: bool, what: str, max_attempts: int | None = None
    ) -> T:
        limit = max_attempts if max_attempts is not None else self._policy.max_attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                return await operation()
            except VideoApiError as error:
                if attempt >= limit or not is_retryable(error, create=create):
                    log.warning("Video API %s failed: %s (%s)", what, _describe(error), error)
                    raise
                delay = backoff_delay(attempt, self._policy, getattr(error, "retry_after", None), self._rand)
                log.warning(
                    "Video API %s failed: %s; retry %d/%d in %.1f s",
                    what,
                    _describe(error),
                    attempt,
                    limit - 1,
                    delay,
                )
                await self._sleep(delay)

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
                    data = await _read_limited(response, _MAX_ERROR_BODY)
                answer = _Answer(response.status, data, response.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _transport_error(exc) from exc
        if not 200 <= answer.status < 300:
            raise error_from_response(answer.status, self._scrub(answer.body), answer.headers, task_lookup=task_lookup)
        return answer

    async def _download_once(self, task_id: str, url: URL, dest: Path, max_bytes: int | None) -> int:
        part = dest.with_name(dest.name + ".part")
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                own = _origin(url) == self._origin
                headers = {"Authorization": f"Bearer {self._api_key}"} if own else {}
                async with self._session.get(
                    url, headers=headers, timeout=self._download_timeout, allow_redirects=False
                ) as response:
                    location = response.headers.get("Location")
                    if response.status in _REDIRECTS and location:
                        # Followed by hand so the key is decided per hop, by that hop's origin.
                        url = url.join(URL(location))
                        continue
                    if not 200 <= response.status < 300:
                        body = await _read_limited(response, _MAX_ERROR_BODY)
                        if own:
                            raise error_from_response(
                                response.status, self._scrub(body), response.headers, task_lookup=True
                            )
                        raise error_from_file_host(response.status, response.headers)
                    size = await _stream_to(response, part, max_bytes)
                await asyncio.to_thread(part.replace, dest)
                return size
            raise UnexpectedResponse("The video URL redirected too many times")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Local file errors (OSError) are not the API's fault and pass through as they are.
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise _transport_error(exc) from exc
        except BaseException:
            await asyncio.to_thread(part.unlink, missing_ok=True)
            raise

    def _scrub(self, body: bytes) -> bytes:
        # A gateway may echo the token it refused; it must not reach a message, a log line or a member.
        if not self._api_key:
            return body
        return body.replace(self._api_key.encode("utf-8"), _REDACTED)


async def _stream_to(response: aiohttp.ClientResponse, part: Path, max_bytes: int | None) -> int:
    declared = response.content_length
    if max_bytes is not None and declared is not None and declared > max_bytes:
        raise DownloadTooLarge(
            f"The video is too large ({declared} bytes, limit {max_bytes})", limit=max_bytes, size=declared
        )
    written = 0
    handle = await asyncio.to_thread(part.open, "wb")
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                raise DownloadTooLarge(f"The video is too large (over {max_bytes} bytes)", limit=max_bytes, size=None)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    return written


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of the body; `content.read(n)` alone may stop at the first network chunk."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(8192):
        chunks.append(chunk)
        total += len(chunk)
        if total >= limit:
            break
    return b"".join(chunks)[:limit]


def _transport_error(exc: BaseException) -> VideoApiError:
    # Order matters: the connect-phase classes are subclasses of the generic ones below them.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ApiTimeout("Timed out connecting to the video API", reached=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ApiConnectionError("Could not connect to the video API", reached=False)
    if isinstance(exc, TimeoutError):
        return ApiTimeout("The video API did not answer in time", reached=True)
    return ApiConnectionError("The connection to the video API broke", reached=True)


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


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _describe(error: VideoApiError) -> str:
    parts = [type(error).__name__]
    if error.status is not None:
        parts.append(f"HTTP {error.status}")
    if error.code:
        parts.append(error.code)
    if error.request_id:
        parts.append(f"request id {error.request_id}")
    return ", ".join(parts)
