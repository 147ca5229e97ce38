"""parse_status reads every known status shape the same way."""

from __future__ import annotations

import pytest

from bot.videoapi.errors import UnexpectedResponse
from bot.videoapi.status import TaskPhase, parse_status

URL = "https://cdn.example.com/v/abc.mp4"


def test_shape_a_completed_gives_url() -> None:
    status = parse_status({"task_id": "task_1", "status": "completed", "url": URL, "format": "mp4"})
    assert (status.phase, status.video_url, status.failure_reason) == (TaskPhase.SUCCEEDED, URL, None)


def test_shape_a_in_progress_is_running() -> None:
    assert parse_status({"task_id": "t", "status": "in_progress"}).phase is TaskPhase.RUNNING


def test_shape_a_failed_reason_from_error_message() -> None:
    status = parse_status({"task_id": "t", "status": "failed", "error": {"code": "x", "message": "Unsafe content"}})
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, "Unsafe content")


def _shape_b(**data: object) -> dict[str, object]:
    return {"code": "success", "message": "", "data": {"task_id": "task_1", **data}}


def test_shape_b_in_progress_with_percent_progress() -> None:
    status = parse_status(_shape_b(status="IN_PROGRESS", progress="30%"))
    assert (status.phase, status.progress, status.raw_status) == (TaskPhase.RUNNING, 30, "IN_PROGRESS")


@pytest.mark.parametrize("word", ["NOT_START", "SUBMITTED", "QUEUED", "pending"])
def test_shape_b_waiting_words_are_queued(word: str) -> None:
    assert parse_status(_shape_b(status=word, progress="10%")).phase is TaskPhase.QUEUED


def test_shape_b_success_takes_result_url() -> None:
    status = parse_status(_shape_b(status="SUCCESS", progress="100%", fail_reason="", result_url=URL))
    assert (status.phase, status.video_url, status.progress) == (TaskPhase.SUCCEEDED, URL, 100)


def test_shape_b_old_reads_url_from_fail_reason_on_success() -> None:
    status = parse_status(_shape_b(status="SUCCESS", progress="100%", fail_reason=URL))
    assert (status.phase, status.video_url, status.failure_reason) == (TaskPhase.SUCCEEDED, URL, None)


def test_shape_b_failure_reason_from_fail_reason() -> None:
    status = parse_status(_shape_b(status="FAILURE", progress="100%", fail_reason="Prompt refused"))
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, "Prompt refused")


def test_shape_b_nested_kling_video_url() -> None:
    kling = {"task_status": "succeed", "task_result": {"videos": [{"url": URL, "duration": "5"}]}}
    status = parse_status(_shape_b(status="SUCCESS", fail_reason="", result_url="", data=kling))
    assert status.video_url == URL


def test_shape_b_nested_kling_status_message_is_the_reason() -> None:
    kling = {"task_status": "failed", "task_status_msg": "Failure to pass the risk control system"}
    status = parse_status(_shape_b(status="FAILURE", fail_reason="", data=kling))
    assert status.failure_reason == "Failure to pass the risk control system"


def test_top_level_failure_wins_over_nested_processing_after_gateway_timeout() -> None:
    kling = {"task_status": "processing", "task_status_msg": ""}
    status = parse_status(_shape_b(status="FAILURE", fail_reason="任务超时（1440分钟）", data=kling))
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, "任务超时（1440分钟）")


def test_raw_kling_body_without_gateway_status_uses_task_status() -> None:
    status = parse_status({"code": 0, "data": {"task_status": "succeed", "task_result": {"videos": [{"url": URL}]}}})
    assert (status.phase, status.video_url) == (TaskPhase.SUCCEEDED, URL)


def test_shape_b_content_video_url() -> None:
    status = parse_status(_shape_b(status="SUCCESS", data={"content": {"video_url": URL}}))
    assert status.video_url == URL


def test_shape_c_completed_url_in_metadata_and_int_progress() -> None:
    body = {"id": "t", "object": "video", "status": "completed", "progress": 100, "metadata": {"url": URL}}
    status = parse_status(body)
    assert (status.phase, status.progress, status.video_url) == (TaskPhase.SUCCEEDED, 100, URL)


def test_shape_c_failed_without_error_has_no_reason() -> None:
    status = parse_status({"id": "t", "object": "video", "status": "failed", "progress": 100, "metadata": {}})
    assert (status.phase, status.failure_reason) == (TaskPhase.FAILED, None)


def test_shape_d_success_without_url() -> None:
    status = parse_status({"task_id": "t", "status": "SUCCESS", "progress": "100%", "fail_reason": ""})
    assert (status.phase, status.progress, status.video_url) == (TaskPhase.SUCCEEDED, 100, None)


def test_succeeded_is_success() -> None:
    # A client once treated `succeeded` as still running and waited forever.
    assert parse_status({"status": "succeeded", "video_url": URL}).phase is TaskPhase.SUCCEEDED


@pytest.mark.parametrize("word", ["failed", "FAILURE", "fail", "error", "cancelled", "canceled", "expired"])
def test_failure_words(word: str) -> None:
    assert parse_status({"status": word}).phase is TaskPhase.FAILED


@pytest.mark.parametrize("word", ["UNKNOWN", "processing", "weird"])
def test_unknown_words_mean_still_running(word: str) -> None:
    assert parse_status({"status": word}).phase is TaskPhase.RUNNING


@pytest.mark.parametrize(("raw", "expected"), [("30%", 30), (" 20 % ", 20), (150, 100), (-5, 0), ("n/a", None)])
def test_progress_is_clamped_and_tolerant(raw: object, expected: int | None) -> None:
    assert parse_status({"status": "in_progress", "progress": raw}).progress == expected


def test_missing_progress_is_none() -> None:
    assert parse_status({"status": "queued"}).progress is None


def test_top_level_message_is_the_last_resort_reason() -> None:
    status = parse_status({"code": "x", "message": "quota exhausted", "data": {"status": "FAILURE"}})
    assert status.failure_reason == "quota exhausted"


def test_running_status_reports_no_reason() -> None:
    assert parse_status({"status": "in_progress", "message": "working"}).failure_reason is None


@pytest.mark.parametrize("body", [{"task_id": "t"}, {"status": ""}, [], "SUCCESS", None])
def test_no_status_at_all_is_unexpected(body: object) -> None:
    with pytest.raises(UnexpectedResponse):
        parse_status(body)


# ---- where each family keeps the video ------------------------------------------------------------------


def test_seedance_content_video_url_flat() -> None:
    body = {"task_id": "t", "status": "succeeded", "content": {"video_url": URL}, "usage": {"total_tokens": 10}}
    status = parse_status(body)
    assert (status.phase, status.video_url) == (TaskPhase.SUCCEEDED, URL)


def test_wan_output_video_url_flat_and_nested() -> None:
    flat = parse_status({"task_id": "t", "status": "SUCCEEDED", "output": {"video_url": URL}})
    nested = parse_status(_shape_b(status="SUCCESS", data={"output": {"task_status": "SUCCEEDED", "video_url": URL}}))
    assert (flat.phase, flat.video_url) == (TaskPhase.SUCCEEDED, URL)
    assert (nested.phase, nested.video_url) == (TaskPhase.SUCCEEDED, URL)


def test_vidu_first_creation_url_flat_and_nested() -> None:
    creations = [{"id": "c1", "url": URL, "cover_url": "https://cdn.example.com/cover.jpg"}, {"url": "https://x/2"}]
    flat = parse_status({"task_id": "t", "status": "success", "creations": creations})
    nested = parse_status(_shape_b(status="SUCCESS", data={"state": "success", "creations": creations}))
    assert (flat.phase, flat.video_url) == (TaskPhase.SUCCEEDED, URL)
    assert nested.video_url == URL


def test_veo_done_without_a_url_has_none() -> None:
    # Veo's status never carries the video: it is fetched from /v1/videos/{id}/content.
    status = parse_status({"task_id": "t", "status": "completed", "progress": 100, "metadata": {}})
    assert (status.phase, status.video_url) == (TaskPhase.SUCCEEDED, None)


@pytest.mark.parametrize("word", ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"])
def test_wan_status_words(word: str) -> None:
    expected = {
        "PENDING": TaskPhase.QUEUED,
        "RUNNING": TaskPhase.RUNNING,
        "SUCCEEDED": TaskPhase.SUCCEEDED,
        "FAILED": TaskPhase.FAILED,
        "CANCELED": TaskPhase.FAILED,
        "UNKNOWN": TaskPhase.RUNNING,
    }[word]
    assert parse_status({"status": word}).phase is expected


def test_video_path_is_looked_at_first() -> None:
    body = {"status": "succeeded", "url": "https://cdn.example.com/preview.mp4", "result": {"hd": {"url": URL}}}
    assert parse_status(body, "result.hd.url").video_url == URL


def test_video_path_indexes_lists_by_number() -> None:
    body = _shape_b(status="SUCCESS", data={"creations": [{"url": "https://x/first"}, {"url": URL}]})
    assert parse_status(body, "data.data.creations.1.url").video_url == URL


@pytest.mark.parametrize(
    "path", ["nothing.here", "data.data.creations.5.url", "data.data.creations.x.url", "data.status.deeper", ""]
)
def test_video_path_that_finds_nothing_falls_back_to_the_known_places(path: str) -> None:
    body = _shape_b(status="SUCCESS", result_url=URL, data={"creations": [{"url": URL}]})
    assert parse_status(body, path).video_url == URL


def test_video_path_that_finds_nothing_and_no_known_place_is_none() -> None:
    assert parse_status({"status": "succeeded"}, "output.video_url").video_url is None
