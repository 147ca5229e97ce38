"""Discord's size limits, and making untrusted text fit them safely.

Whatever a member typed or an API answered, a message must stay within Discord's limits (a longer one is refused
with a 400, and the member sees nothing), must not ping anyone, must not smuggle markdown, and must not show a
secret. Pure functions: tested without Discord.

Lengths are counted in UTF-16 code units, as JavaScript (and so Discord's own clients) count them: never less
than Python's `len`, so text that fits here fits however Discord counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import discord
from yarl import URL

CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
ELLIPSIS = "…"
REDACTED = "[redacted]"

# What an API key, a bearer token or a Discord bot token looks like, whoever's it is.
_SECRET_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(r"\b[A-Za-z0-9_\-]{23,}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,}"),
)
# Shorter values would redact ordinary words; real secrets are long.
_MIN_SECRET = 8


def size(text: str) -> int:
    """`text`'s length as Discord counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` with an ellipsis; for text already safe to show (nothing to escape)."""
    if size(text) <= limit:
        return text
    return _longest(lambda n: text[:n], len(text), limit - size(ELLIPSIS)) + ELLIPSIS


def escape(text: str) -> str:
    """`text` shown as typed: markdown escaped, mentions that would ping made inert."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def quote(text: str, limit: int) -> str:
    """Untrusted `text` escaped and cut so the result is at most `limit`, never cutting an escape in two."""
    escaped = escape(text)
    if size(escaped) <= limit:
        return escaped
    return _longest(lambda n: escape(text[:n]), len(text), limit - size(ELLIPSIS)) + ELLIPSIS


def neutral(text: str, limit: int) -> str:
    """The bot's own text around untrusted parts (it may use markdown): mentions made inert, secrets scrubbed."""
    return clip(discord.utils.escape_mentions(scrub_secrets(text)), limit)


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values, nor anything shaped like an API key or a bot token."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    for shape in _SECRET_SHAPES:
        text = shape.sub(REDACTED, text)
    return text


def api_text(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """Words from the video API (a failure reason) made fit to show: one line, no secrets, escaped, cut."""
    return quote(scrub_secrets(" ".join(text.split()), secrets), limit)


def safe_link(url: str | None) -> str | None:
    """`url` if it is a web link safe to post as is (http(s), a host, no spaces or angle brackets), else None.

    A link is posted raw (escaping would break it), so anything that could end the link early and start text
    of its own is refused rather than repaired.
    """
    if not url or any(ch.isspace() or ch in "<>" or ord(ch) < 32 for ch in url):
        return None
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if parsed.scheme.lower() not in ("http", "https") or not parsed.host:
        return None
    return url


def shares(needs: Sequence[int], budget: int) -> list[int]:
    """Split `budget` between parts needing `needs`: none gets more than it needs, and what the short ones
    leave is shared evenly by the long ones (so one long part can't squeeze out the others)."""
    given = [0] * len(needs)
    left = max(0, budget)
    waiting = sorted(range(len(needs)), key=lambda i: needs[i])
    for position, index in enumerate(waiting):
        fair = left // (len(waiting) - position)
        given[index] = min(needs[index], fair)
        left -= given[index]
    return given


def fit_content(text: str) -> str:
    """The last guard before a message is sent: never more than Discord takes."""
    return clip(text, CONTENT_LIMIT)


def _longest(render: Callable[[int], str], length: int, limit: int) -> str:
    """`render(n)` for the largest n <= length whose result is at most `limit` long ("" if none)."""
    low, high = 0, length
    while low < high:
        middle = (low + high + 1) // 2
        if size(render(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    result = render(low)
    # Escaping is not strictly monotonic (a URL completed mid-way is left unescaped): make sure, step by step.
    while low > 0 and size(result) > limit:
        low -= 1
        result = render(low)
    return result if size(result) <= limit else ""
