"""Log redaction: a known secret never reaches the log output, wherever in the record it hides."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import REDACTED, RedactSecrets, configure_logging

TOKEN = "discord.token.value-1234567890"
KEY = "sk-modelstream-key-0987654321"


class Captured:
    def __init__(self, logger: logging.Logger, stream: io.StringIO) -> None:
        self.logger = logger
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Captured]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactSecrets([TOKEN, KEY]))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield Captured(logger, stream)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    gateway_level = logging.getLogger("discord.gateway").level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("discord.gateway").setLevel(gateway_level)


def test_secret_in_the_message_is_redacted(captured: Captured) -> None:
    captured.logger.info(f"calling with Bearer {KEY} now")

    assert captured.text == f"INFO calling with Bearer {REDACTED} now\n"


def test_secret_in_the_arguments_is_redacted(captured: Captured) -> None:
    captured.logger.warning("token %s for user %d", TOKEN, 42)

    assert captured.text == f"WARNING token {REDACTED} for user 42\n"


def test_secret_in_an_exception_is_redacted(captured: Captured) -> None:
    try:
        raise RuntimeError(f"the gateway refused {KEY}")
    except RuntimeError:
        captured.logger.exception("create failed")

    assert KEY not in captured.text
    assert f"RuntimeError: the gateway refused {REDACTED}" in captured.text


def test_every_secret_is_redacted_each_time_it_appears(captured: Captured) -> None:
    captured.logger.info("%s %s %s", TOKEN, KEY, TOKEN)

    assert captured.text == f"INFO {REDACTED} {REDACTED} {REDACTED}\n"


def test_lines_without_secrets_are_unchanged(captured: Captured) -> None:
    captured.logger.info("render %s submitted as task %s", "abc", "task_1")

    assert captured.text == "INFO render abc submitted as task task_1\n"


def test_very_short_values_are_not_treated_as_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["abc", ""]))
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "abc and more", None, None)

    handler.handle(record)

    assert stream.getvalue() == "abc and more\n"


def test_log_call_with_mismatched_arguments_does_not_raise_and_is_still_redacted(captured: Captured) -> None:
    captured.logger.info("one placeholder %d", KEY)

    assert KEY not in captured.text
    assert "one placeholder" in captured.text


def test_configure_logging_redacts_everything_logged_anywhere(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", [TOKEN])

    logging.getLogger("bot.somewhere").info("token is %s", TOKEN)

    err = capsys.readouterr().err
    assert TOKEN not in err
    assert f"bot.somewhere: token is {REDACTED}" in err


def test_configure_logging_sets_the_level(root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", [TOKEN])

    logging.getLogger("bot.somewhere").info("not shown")
    logging.getLogger("bot.somewhere").warning("shown")

    err = capsys.readouterr().err
    assert "not shown" not in err
    assert "shown" in err
