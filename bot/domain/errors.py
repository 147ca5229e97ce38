"""Errors that carry a message meant for the member who caused them."""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose `message` can be shown to the member as is (ephemeral): it says what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestValidationError(UserFacingError):
    """A broken rule of `/video generate`; `option` names the option to fix (None when several are involved)."""

    def __init__(self, option: str | None, message: str) -> None:
        super().__init__(message)
        self.option = option


class IllegalTransition(Exception):
    """A render was asked to move between two states the lifecycle does not connect (a bug, not user input)."""
