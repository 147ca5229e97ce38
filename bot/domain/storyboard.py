"""The multi-shot storyboard: one shot per line, `<seconds> | <prompt>`, as typed in the storyboard modal.

Discord allows five fields per modal and a storyboard has up to six shots, so the shots share one paragraph
field and this module turns that text into `Shot`s and back. Errors carry the option name `storyboard`,
name the shot ("Shot 3: ...") and say what to change; the UI keeps the text so the member can fix it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.domain.errors import RequestValidationError
from bot.domain.models import Durations
from bot.domain.request import Shot

MIN_SHOTS = 1
MAX_SHOTS = 6
MAX_SHOT_PROMPT_CHARS = 512
MIN_SHOT_SECONDS = 1

OPTION = "storyboard"

# Shown in the empty modal field; Discord caps placeholders at 100 characters.
STORYBOARD_PLACEHOLDER = "3 | Wide shot: a lighthouse at dusk, waves crashing\n2 | Close-up: its lamp flickers on"

_FORMAT_HINT = "`<seconds> | <prompt>`, e.g. `3 | The hero opens the door`"

# Seconds first (an optional "s"/"sec"/"seconds" after them), then "|" or ":", then the shot's prompt.
# "-" is deliberately not a separator: "3-year-old runs" would read as a 3 s shot.
_SHOT_LINE = re.compile(
    r"^\s*(?P<seconds>\d+(?:[.,]\d+)?)\s*(?:s|secs?|seconds?)?\s*[|:]\s*(?P<prompt>.*)$",
    re.IGNORECASE,
)


def parse_storyboard(text: str, *, total: int | None, has_last_frame: bool, durations: Durations) -> tuple[Shot, ...]:
    """Read one shot per non-empty line as `<seconds> | <prompt>` (`3s | ...` and `3: ...` work too).

    1..6 shots; each prompt 1..512 characters, each duration a whole number of seconds >= 1; the durations add
    up to a length the model takes (`durations`) and, when `total` (the member's `duration`) is given, to
    exactly that. A storyboard has no end frame, so `has_last_frame` is refused. Raises
    `RequestValidationError` (option `storyboard`, or `last_frame` for the end frame).
    """
    if has_last_frame:
        raise RequestValidationError(
            "last_frame",
            "A storyboard can't have a `last_frame` (a first frame is fine). "
            "Remove `last_frame`, or turn `multi_shot` off.",
        )
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RequestValidationError(OPTION, f"The storyboard is empty: write one shot per line as {_FORMAT_HINT}.")
    if len(lines) > MAX_SHOTS:
        raise RequestValidationError(
            OPTION, f"The storyboard has {len(lines)} shots; the limit is {MAX_SHOTS}. Merge or remove some."
        )
    shots = tuple(_parse_line(number, line) for number, line in enumerate(lines, start=1))

    seconds = sum(shot.duration for shot in shots)
    if total is not None and seconds != total:
        raise RequestValidationError(
            OPTION,
            f"The shots add up to {seconds} s but `duration` is {total} s: "
            f"make them add up to {total} s, or change `duration`.",
        )
    if not durations.allows(seconds):
        raise RequestValidationError(
            OPTION,
            f"The shots add up to {seconds} s; the total must be {durations.describe()}. Change the shot durations.",
        )
    return shots


def format_storyboard(shots: Sequence[Shot]) -> str:
    """The storyboard as text that `parse_storyboard` reads back to the same shots (to refill the modal)."""
    return "\n".join(f"{shot.duration} | {shot.prompt}" for shot in shots)


def describe_storyboard(shots: Sequence[Shot]) -> str:
    """A numbered preview with each shot's length and the total, shown before the storyboard is sent.

    Plain text: the caller escapes Discord markdown and mentions in the prompts.
    """
    lines = [f"{number}. ({shot.duration} s) {shot.prompt}" for number, shot in enumerate(shots, start=1)]
    lines.append(f"Total: {sum(shot.duration for shot in shots)} s")
    return "\n".join(lines)


def _parse_line(number: int, line: str) -> Shot:
    match = _SHOT_LINE.match(line)
    if match is None:
        raise RequestValidationError(OPTION, f"Shot {number}: write it as {_FORMAT_HINT}.")
    raw_seconds, prompt = match["seconds"], match["prompt"].strip()
    if not raw_seconds.isdigit():
        raise RequestValidationError(
            OPTION, f"Shot {number}: durations are whole seconds; you gave {raw_seconds}. Round it."
        )
    seconds = int(raw_seconds)
    if seconds < MIN_SHOT_SECONDS:
        raise RequestValidationError(
            OPTION, f"Shot {number}: each shot must last at least {MIN_SHOT_SECONDS} second; you gave {seconds}."
        )
    if not prompt:
        raise RequestValidationError(
            OPTION, f"Shot {number}: the prompt is empty; write what happens in this shot after the `|`."
        )
    if len(prompt) > MAX_SHOT_PROMPT_CHARS:
        raise RequestValidationError(
            OPTION,
            f"Shot {number}: the prompt is {len(prompt)} characters long; the limit is {MAX_SHOT_PROMPT_CHARS}. "
            f"Shorten it by {len(prompt) - MAX_SHOT_PROMPT_CHARS} characters.",
        )
    return Shot(prompt=prompt, duration=seconds)
