"""Tolerant reading of a task status answer, whatever shape the gateway version uses.

The rules are those of "Tolerant parsing rules" in modelstream-api.md: four shapes are known (A flat
lower-case, B `{code,message,data}` wrapping Kling's raw JSON, C OpenAI video object, D flat upper-case),
and the parser looks for each field in every place any of them puts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.videoapi.errors import UnexpectedResponse

_SUCCESS = frozenset({"completed", "succeeded", "succeed", "success"})
_FAILURE = frozenset({"failed", "failure", "fail", "error", "cancelled", "canceled", "expired"})
_QUEUED = frozenset({"queued", "not_start", "submitted", "pending"})


class TaskPhase(StrEnum):
    """Where a task is, as far as the bot cares."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class TaskStatus:
    """One status answer, normalised. `progress` is the gateway's synthetic figure, for display only."""

    phase: TaskPhase
    progress: int | None
    video_url: str | None
    failure_reason: str | None
    raw_status: str


def parse_status(body: object, video_path: str | None = None) -> TaskStatus:
    """Read a status answer of any known shape; raises `UnexpectedResponse` when it holds no status at all.

    `video_path` (from the model table, dotted, list indexes as numbers: `data.output.video_url`) is where this
    model's status keeps the video; it is looked at first, then every place a known family uses.
    """
    if not isinstance(body, Mapping):
        raise UnexpectedResponse("The video API answered a status request with something unreadable")
    inner = body.get("data")
    obj: Mapping[str, object] = inner if isinstance(inner, Mapping) and "status" in inner else body
    upstream = _mapping(obj.get("data"))  # Kling's raw JSON in shape B

    raw_status = _text(obj.get("status")) or _text(upstream.get("task_status"))
    if raw_status is None:
        raise UnexpectedResponse("The video API answered a status request without a status")
    phase = _phase(raw_status)
    return TaskStatus(
        phase=phase,
        progress=_progress(obj.get("progress")),
        video_url=_at_path(body, video_path) or _video_url(obj, upstream),
        failure_reason=_failure_reason(body, obj, upstream) if phase is TaskPhase.FAILED else None,
        raw_status=raw_status,
    )


def _phase(raw_status: str) -> TaskPhase:
    word = raw_status.strip().lower()
    if word in _SUCCESS:
        return TaskPhase.SUCCEEDED
    if word in _FAILURE:
        return TaskPhase.FAILED
    if word in _QUEUED:
        return TaskPhase.QUEUED
    return TaskPhase.RUNNING


def _progress(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(float(value.strip().rstrip("%").strip()))
        except ValueError:
            return None
    else:
        return None
    return max(0, min(100, number))


def _video_url(obj: Mapping[str, object], upstream: Mapping[str, object]) -> str | None:
    videos = _mapping(upstream.get("task_result")).get("videos")
    first_video = _mapping(videos[0]) if isinstance(videos, list) and videos else {}
    creations = obj.get("creations") or upstream.get("creations")
    first_creation = _mapping(creations[0]) if isinstance(creations, list) and creations else {}
    candidates = (
        obj.get("result_url"),
        obj.get("url"),
        obj.get("video_url"),
        _mapping(obj.get("metadata")).get("url"),
        first_video.get("url"),  # Kling
        _mapping(upstream.get("content")).get("video_url"),  # Seedance (Ark), nested
        _mapping(obj.get("content")).get("video_url"),  # Seedance, flat
        _mapping(upstream.get("output")).get("video_url"),  # Wan and HappyHorse (DashScope), nested
        _mapping(obj.get("output")).get("video_url"),
        first_creation.get("url"),  # Vidu
    )
    for candidate in candidates:
        text = _text(candidate)
        if text:
            return text
    # Gateway versions before ~Jan 2026 put the video URL in fail_reason on success.
    reason = _text(obj.get("fail_reason"))
    if reason and _is_url(reason):
        return reason
    return None


def _failure_reason(
    body: Mapping[str, object], obj: Mapping[str, object], upstream: Mapping[str, object]
) -> str | None:
    fail_reason = _text(obj.get("fail_reason"))
    candidates = [
        None if fail_reason and _is_url(fail_reason) else fail_reason,
        _text(_mapping(obj.get("error")).get("message")),
        _text(upstream.get("task_status_msg")),
        _text(obj.get("message")),
    ]
    if obj is not body:
        candidates += [_text(_mapping(body.get("error")).get("message")), _text(body.get("message"))]
    return next((c for c in candidates if c), None)


def _at_path(body: object, path: str | None) -> str | None:
    if not path:
        return None
    place: object = body
    for key in path.split("."):
        if isinstance(place, list) and key.isdigit() and int(key) < len(place):
            place = place[int(key)]
        elif isinstance(place, Mapping):
            place = place.get(key)
        else:
            return None
    return _text(place)


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
