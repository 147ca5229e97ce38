"""The ModelStream video API client: payload, typed errors, retry policy, tolerant status parsing, download."""

from bot.videoapi.client import CreatedTask, VideoApiClient
from bot.videoapi.errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    DownloadTooLarge,
    NoCredit,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    VideoApiError,
    error_from_response,
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
    "DownloadTooLarge",
    "NoCredit",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TaskNotFound",
    "TaskPhase",
    "TaskStatus",
    "UnexpectedResponse",
    "VideoApiClient",
    "VideoApiError",
    "backoff_delay",
    "build_create_payload",
    "error_from_response",
    "is_retryable",
    "parse_status",
    "payload_size",
]
