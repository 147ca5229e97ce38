"""Discord's signed attachment URLs: when one stops working, so a waiting request can refresh it in time."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit


def url_expiry(url: str) -> datetime | None:
    """When a Discord CDN URL stops working (its `ex` parameter, hex Unix seconds); None when it has none."""
    values = parse_qs(urlsplit(url).query).get("ex")
    if not values:
        return None
    try:
        return datetime.fromtimestamp(int(values[0], 16), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def needs_refresh(url: str, now: datetime, margin_seconds: float) -> bool:
    """Whether the URL expires (or has no known expiry and may have) before `now` + margin.

    A URL without `ex` is an old unsigned one: Discord refreshes those too, so it is refreshed to be safe.
    """
    expiry = url_expiry(url)
    return expiry is None or (expiry - now).total_seconds() < margin_seconds
