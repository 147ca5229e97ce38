"""What video work can fail with: the Discord side maps each to its own message, never a raw FFmpeg error."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error this package raises on purpose."""


class NotPlayable(MediaError):
    """The file is not a video this package can read (garbage, truncated, an unsupported container or codec)."""


class CannotFit(MediaError):
    """The clip can't be brought under the size limit without going below the quality floor (or 480p)."""

    def __init__(self, message: str, *, max_bytes: int, needed_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes
        self.needed_bytes = needed_bytes  # about the smallest file the floor allows: for "needs about X MB"


class VideoTimeout(MediaError):
    """The job ran past its time limit; its partial output has been removed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"video work took longer than its {seconds:g} s limit")
        self.seconds = seconds


class Cancelled(MediaError):
    """The caller gave up on the job (its coroutine was cancelled); raised inside the worker thread to stop it."""
