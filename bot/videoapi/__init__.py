"""The ModelStream video API client: payload, typed errors, retry policy, tolerant status parsing, download."""

from bot.videoapi.client import CreatedTask, VideoApiClient
from bot.videoapi.download import DownloadLimits
from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    DownloadStalled,
    DownloadTooLarge,
    NoCredit,
    NotAVideo,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    UnsafeVideoUrl,
    VideoApiError,
    error_from_response,
    error_kind,
)
from bot.videoapi.payload import build_create_payload, payload_size
from bot.videoapi.retry import RetryPolicy, backoff_delay, is_retryable
from bot.videoapi.status import TaskPhase, TaskStatus, parse_status

__all__ = [
    "ApiConnectionError",
    "ApiTimeout",
    "AuthError",
    "BadRequest",
    "CreatedTask",
    "DownloadLimits",
    "DownloadStalled",
    "DownloadTooLarge",
    "NoCredit",
    "NotAVideo",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TaskNotFound",
    "TaskPhase",
    "TaskStatus",
    "UnexpectedResponse",
    "UnsafeVideoUrl",
    "VideoApiClient",
    "VideoApiError",
    "backoff_delay",
    "build_create_payload",
    "error_from_response",
    "error_kind",
    "is_retryable",
    "parse_status",
    "payload_size",
]
