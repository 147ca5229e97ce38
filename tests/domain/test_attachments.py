"""Discord's signed attachment URLs: when they expire, and whether one must be refreshed before it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.attachments import needs_refresh, url_expiry

EXPIRY = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EX = format(int(EXPIRY.timestamp()), "x")
SIGNED = f"https://cdn.discordapp.com/attachments/1/2/fox.png?ex={EX}&is=65e0c0a0&hm=abc123&"


def test_expiry_is_read_from_the_hex_ex_parameter() -> None:
    assert url_expiry(SIGNED) == EXPIRY


def test_expiry_is_found_wherever_ex_sits_in_the_query() -> None:
    assert url_expiry(f"https://media.discordapp.net/attachments/1/2/a.png?hm=x&ex={EX.upper()}") == EXPIRY


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.discordapp.com/attachments/1/2/fox.png",
        "https://cdn.discordapp.com/attachments/1/2/fox.png?is=65e0c0a0&hm=abc",
        "https://cdn.discordapp.com/attachments/1/2/fox.png?ex=&hm=abc",
        "https://cdn.discordapp.com/attachments/1/2/fox.png?ex=not-hex",
        "https://cdn.discordapp.com/attachments/1/2/fox.png?ex=ffffffffffffffffffff",
    ],
)
def test_no_readable_expiry_is_none(url: str) -> None:
    assert url_expiry(url) is None


def test_a_url_living_beyond_the_margin_is_kept() -> None:
    now = EXPIRY - timedelta(hours=2)

    assert needs_refresh(SIGNED, now, margin_seconds=3600) is False


def test_a_url_expiring_within_the_margin_is_refreshed() -> None:
    now = EXPIRY - timedelta(minutes=30)

    assert needs_refresh(SIGNED, now, margin_seconds=3600) is True


def test_an_expired_url_is_refreshed() -> None:
    assert needs_refresh(SIGNED, EXPIRY + timedelta(seconds=1), margin_seconds=0) is True


def test_the_margin_boundary_keeps_the_url() -> None:
    # Exactly the margin left is enough; a second less is not.
    assert needs_refresh(SIGNED, EXPIRY - timedelta(seconds=600), margin_seconds=600) is False
    assert needs_refresh(SIGNED, EXPIRY - timedelta(seconds=599), margin_seconds=600) is True


def test_an_unsigned_url_is_always_refreshed() -> None:
    assert needs_refresh("https://cdn.discordapp.com/attachments/1/2/fox.png", EXPIRY, margin_seconds=0) is True
