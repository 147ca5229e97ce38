"""The error tree of the video API client, and the one function that picks a class from a response.

Every error carries a short plain `message` (the API's own words when it gave any), the HTTP `status`, the
API's `code` and the gateway request id. None of them ever holds the API key: the client scrubs response
bodies before they reach `error_from_response`, and nothing here looks at request headers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

# The longest message kept; Kling error strings and HTML error pages can be long.
_MAX_MESSAGE = 300
# New API appends this to middleware messages; it belongs in request_id, not in what a member reads.
_REQUEST_ID_SUFFIX = re.compile(r"\s*\(request id:\s*([^)]*)\)\s*$", re.IGNORECASE)
_REQUEST_ID_HEADER = "X-Oneapi-Request-Id"

NO_CREDIT_CODE = "insufficient_user_quota"
TASK_NOT_FOUND_CODE = "task_not_exist"
MODEL_NOT_FOUND_CODE = "model_not_found"


class VideoApiError(Exception):
    """Anything that went wrong talking to the video API. `str()` is `message`, short and plain."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class BadRequest(VideoApiError):
    """The API refused the request itself (400/413/422, Kling parameter or policy rejections)."""


class AuthError(VideoApiError):
    """The key is missing, wrong, disabled or not allowed this model (401, 403 other than credit)."""


class NoCredit(VideoApiError):
    """The account behind the key is out of credit (402, or `insufficient_user_quota` on any status)."""


class RateLimited(VideoApiError):
    """429: the gateway or the upstream asks us to slow down; `retry_after` is in seconds when it said."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after


class ServerError(VideoApiError):
    """5xx: the gateway or the upstream failed."""


class ModelUnavailable(ServerError):
    """503 `model_not_found`: no gateway channel serves this model now (answered before any upstream call)."""


class ApiTimeout(VideoApiError):
    """No answer in time. `reached=False` only when the connection itself timed out (nothing was sent)."""

    def __init__(
        self,
        message: str = "The video API did not answer in time",
        *,
        reached: bool = True,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.reached = reached


class ApiConnectionError(VideoApiError):
    """The connection failed. `reached=False` when it could not even be established (nothing was sent)."""

    def __init__(
        self,
        message: str = "Could not talk to the video API",
        *,
        reached: bool = True,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.reached = reached


class TaskNotFound(VideoApiError):
    """The API does not know this task (`task_not_exist`, or 404 on a task lookup)."""


class UnexpectedResponse(VideoApiError):
    """A 2xx answer we cannot use: not JSON, no task id, no status."""


class DownloadTooLarge(VideoApiError):
    """The video is larger than the caller allowed; nothing is left on disk."""

    def __init__(self, message: str, *, limit: int, size: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size


class NotAVideo(VideoApiError):
    """The result is not a video we may post: the body is no video container (an HTML page, an image, nothing)
    whatever its Content-Type said. Not retried: the same URL gives the same body."""


class UnsafeVideoUrl(NotAVideo):
    """The result URL, or a redirect it led to, is not http(s), or the redirects went on too long."""


class DownloadStalled(VideoApiError):
    """The video came too slowly (under the minimum rate) or not within the download deadline. Retryable: a
    congested CDN may do better later, and the caller, not this body, decides how long to keep trying."""


def error_kind(error: BaseException) -> str:
    """A short, closed name for what went wrong, for metrics and logs (never the message, which varies)."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return "error"


def cap_retry_after(error: VideoApiError, limit: float) -> VideoApiError:
    """`error` with its Retry-After no longer than `limit`: whoever reads it (this client, the tracker) waits
    no longer than the operator allowed, whatever the server asked."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        error.retry_after = min(error.retry_after, max(0.0, limit))
    return error


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    task_lookup: bool = False,
) -> VideoApiError:
    """Pick the error class for a non-2xx answer of the API; the only place that maps status and body.

    `task_lookup` is set by calls about one task (status, content), where a plain 404 means the task is
    unknown rather than a wrong route.
    """
    message, code, request_id = _read_envelope(body)
    request_id = request_id or _header(headers, _REQUEST_ID_HEADER)
    if not message:
        message = _default_message(status)
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    if code == NO_CREDIT_CODE or status == 402:
        return NoCredit(message, **kwargs)
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(_header(headers, "Retry-After")), **kwargs)
    if code == TASK_NOT_FOUND_CODE and status in (400, 404):
        return TaskNotFound(message, **kwargs)
    if status == 404 and task_lookup:
        return TaskNotFound(message, **kwargs)
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if 400 <= status < 500:
        return BadRequest(message, **kwargs)
    if status >= 500:
        if code == MODEL_NOT_FOUND_CODE:
            return ModelUnavailable(message, **kwargs)
        return ServerError(message, **kwargs)
    return UnexpectedResponse(message, **kwargs)


def error_from_file_host(status: int, headers: Mapping[str, str]) -> VideoApiError:
    """The error for a failed download from a host that is not the API (a CDN): its 401/403 says nothing
    about our key, usually that a signed URL expired."""
    message = f"The video file could not be fetched (HTTP {status})"
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(_header(headers, "Retry-After")), status=status)
    if status >= 500:
        return ServerError(message, status=status)
    return BadRequest(message, status=status)


def transport_error(exc: BaseException) -> VideoApiError:
    """The error for a failed exchange (no HTTP answer), saying whether the request may have left."""
    # Order matters: the connect-phase classes are subclasses of the generic ones below them.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ApiTimeout("Timed out connecting to the video API", reached=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ApiConnectionError("Could not connect to the video API", reached=False)
    if isinstance(exc, TimeoutError):
        return ApiTimeout("The video API did not answer in time", reached=True)
    return ApiConnectionError("The connection to the video API broke", reached=True)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# Subclasses before their parents: the first match names the error.
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (RateLimited, "rate_limited"),
    (ModelUnavailable, "model_unavailable"),
    (ServerError, "server_error"),
    (ApiTimeout, "timeout"),
    (ApiConnectionError, "connection"),
    (NoCredit, "no_credit"),
    (AuthError, "auth"),
    (TaskNotFound, "not_found"),
    (BadRequest, "bad_request"),
    (UnsafeVideoUrl, "unsafe_url"),
    (NotAVideo, "not_a_video"),
    (DownloadTooLarge, "too_large"),
    (DownloadStalled, "stalled"),
    (UnexpectedResponse, "unexpected"),
    (OSError, "local_io"),
)


def _read_envelope(body: bytes) -> tuple[str, str | None, str | None]:
    """Message, code and request id from either envelope: `{"error":{...}}` or `{"code","message","data"}`."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "", None, None
    try:
        parsed = json.loads(text)
    except ValueError:
        # An HTML error page from a proxy says nothing useful to a member.
        return ("" if text.startswith("<") else _shorten(text)), None, None
    if not isinstance(parsed, dict):
        return "", None, None
    nested = parsed.get("error")
    source: dict[str, Any] = nested if isinstance(nested, dict) else parsed
    message = source.get("message")
    code = source.get("code")
    message = message if isinstance(message, str) else ""
    code_text = str(code) if isinstance(code, (str, int)) and not isinstance(code, bool) and code != "" else None
    message, request_id = _split_request_id(message)
    message = _unwrap_kling(message)
    return _shorten(message), code_text, request_id


def _split_request_id(message: str) -> tuple[str, str | None]:
    match = _REQUEST_ID_SUFFIX.search(message)
    if match is None:
        return message, None
    return message[: match.start()], (match.group(1).strip() or None)


def _unwrap_kling(message: str) -> str:
    """The gateway passes Kling's whole JSON answer as the message; the member needs only Kling's message."""
    start = message.find("{")
    if start < 0:
        return message
    try:
        inner, _ = json.JSONDecoder().raw_decode(message[start:])
    except ValueError:
        return message
    if isinstance(inner, dict):
        nested = inner.get("message")
        if isinstance(nested, str) and nested.strip():
            return nested.strip()
    return message


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - 1] + "…"


def _default_message(status: int) -> str:
    if status == 429:
        return "The video API is busy (rate limited)"
    if status >= 500:
        return f"The video API failed (HTTP {status})"
    return f"The video API refused the request (HTTP {status})"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None
