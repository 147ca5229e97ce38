"""error_from_response picks one error class from status and body, and keeps the API's own words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from bot.videoapi.errors import (
    AuthError,
    BadRequest,
    ModelUnavailable,
    NoCredit,
    RateLimited,
    ServerError,
    TaskNotFound,
    UnexpectedResponse,
    VideoApiError,
    error_from_response,
    parse_retry_after,
)


def openai_style(message: str, code: str = "") -> bytes:
    return json.dumps({"error": {"message": message, "type": "new_api_error", "code": code}}).encode()


def task_style(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "data": None}).encode()


def test_openai_envelope_message_and_request_id_are_split() -> None:
    error = error_from_response(401, openai_style("无效的令牌 (request id: 20250101ABC)"), {})
    assert isinstance(error, AuthError)
    assert (error.message, error.request_id, error.status) == ("无效的令牌", "20250101ABC", 401)


def test_request_id_falls_back_to_header() -> None:
    error = error_from_response(400, task_style("invalid_request", "prompt is required"), {"X-Oneapi-Request-Id": "R1"})
    assert error.request_id == "R1"


def test_empty_prompt_is_bad_request_with_api_message() -> None:
    error = error_from_response(400, task_style("invalid_request", "prompt is required"), {})
    assert isinstance(error, BadRequest)
    assert (str(error), error.code) == ("prompt is required", "invalid_request")


@pytest.mark.parametrize("status", [413, 422])
def test_other_refusals_are_bad_request(status: int) -> None:
    assert isinstance(error_from_response(status, b"", {}), BadRequest)


def test_kling_json_inside_message_is_unwrapped() -> None:
    kling = json.dumps({"code": 1201, "message": "Invalid image: too small", "request_id": "k1"})
    error = error_from_response(400, task_style("fail_to_fetch_task", kling), {})
    assert isinstance(error, BadRequest)
    assert (error.message, error.code) == ("Invalid image: too small", "fail_to_fetch_task")


def test_kling_json_after_a_prefix_is_unwrapped() -> None:
    message = 'status_code=400, body={"code":1301,"message":"Content risk"}'
    assert error_from_response(400, task_style("fail_to_fetch_task", message), {}).message == "Content risk"


def test_403_without_credit_code_is_auth_error() -> None:
    error = error_from_response(403, openai_style("该令牌无权访问模型 kling-v3", "access_denied"), {})
    assert isinstance(error, AuthError)


@pytest.mark.parametrize("status", [402, 403, 429, 400])
def test_insufficient_quota_code_is_no_credit_on_any_status(status: int) -> None:
    error = error_from_response(status, task_style("insufficient_user_quota", "用户额度不足"), {})
    assert isinstance(error, NoCredit)
    assert error.message == "用户额度不足"


def test_402_without_body_is_no_credit() -> None:
    assert isinstance(error_from_response(402, b"", {}), NoCredit)


def test_429_with_empty_body_is_rate_limited_with_plain_message() -> None:
    error = error_from_response(429, b"", {})
    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert str(error) == "The video API is busy (rate limited)"


def test_429_retry_after_seconds() -> None:
    error = error_from_response(429, openai_style("slow down"), {"retry-after": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_retry_after_http_date() -> None:
    when = datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC)
    now = datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(format_datetime(when, usegmt=True), now=now) == pytest.approx(60.0)


@pytest.mark.parametrize("value", [None, "", "soon"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_server_error(status: int) -> None:
    assert isinstance(error_from_response(status, task_style("do_request_failed", "upstream failed"), {}), ServerError)


def test_model_not_found_keeps_its_code() -> None:
    error = error_from_response(503, openai_style("无可用渠道 (request id: X)", "model_not_found"), {})
    assert isinstance(error, ServerError)
    assert error.code == "model_not_found"


def test_model_not_found_is_model_unavailable() -> None:
    body = openai_style("当前分组 default 下对于模型 veo-3.1 无可用渠道 (request id: 2026X)", "model_not_found")
    error = error_from_response(503, body, {})
    assert type(error) is ModelUnavailable
    assert (error.status, error.request_id) == (503, "2026X")
    assert error.message == "当前分组 default 下对于模型 veo-3.1 无可用渠道"


def test_model_not_found_in_a_task_envelope_is_model_unavailable() -> None:
    assert isinstance(error_from_response(503, task_style("model_not_found", "no channel"), {}), ModelUnavailable)


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, openai_style("upstream overloaded", "upstream_error")), (502, b""), (500, task_style("x", "boom"))],
)
def test_other_server_errors_are_not_model_unavailable(status: int, body: bytes) -> None:
    error = error_from_response(status, body, {})
    assert isinstance(error, ServerError)
    assert not isinstance(error, ModelUnavailable)


def test_html_error_page_gives_a_plain_message() -> None:
    error = error_from_response(502, b"<html><body>502 Bad Gateway</body></html>", {})
    assert str(error) == "The video API failed (HTTP 502)"


@pytest.mark.parametrize("status", [400, 404])
def test_task_not_exist_code_is_task_not_found(status: int) -> None:
    assert isinstance(error_from_response(status, task_style("task_not_exist", "task_not_exist"), {}), TaskNotFound)


def test_plain_404_is_task_not_found_only_on_task_lookups() -> None:
    assert isinstance(error_from_response(404, b"", {}, task_lookup=True), TaskNotFound)
    assert isinstance(error_from_response(404, b"", {}), BadRequest)


def test_non_error_status_is_unexpected() -> None:
    assert isinstance(error_from_response(302, b"", {}), UnexpectedResponse)


def test_long_messages_are_shortened() -> None:
    error = error_from_response(400, task_style("x", "word " * 500), {})
    assert len(str(error)) <= 300


def test_repr_names_class_and_status() -> None:
    error = VideoApiError("boom", status=500, code="c")
    assert repr(error) == "VideoApiError(message='boom', status=500, code='c', request_id=None)"
