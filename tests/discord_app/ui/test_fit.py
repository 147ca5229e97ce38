"""Making untrusted text fit Discord: escaped, inert, scrubbed, and never one character over a limit."""

from __future__ import annotations

import discord
import pytest

from bot.discord_app.ui import fit

USER_MENTION = "<@123456789012345678>"


def test_size_counts_as_discord_does() -> None:
    assert fit.size("abc") == 3
    assert fit.size("😀") == 2  # one code point, two UTF-16 units
    assert fit.size("é") == 1


@pytest.mark.parametrize("limit", [1, 2, 50, 1000, 1024])
def test_quote_of_text_that_escapes_to_twice_its_length_stays_within_the_limit(limit: int) -> None:
    result = fit.quote("*_" * 3000, limit)

    assert fit.size(result) <= limit
    assert result.endswith(fit.ELLIPSIS)


def test_quote_never_cuts_an_escape_in_two() -> None:
    result = fit.quote("*" * 3000, 1000)

    body = result.removesuffix(fit.ELLIPSIS)
    assert body == discord.utils.escape_markdown("*" * (len(body) // 2))
    assert len(body) == 998  # the longest whole run of escaped stars that leaves room for the ellipsis


def test_quote_of_text_that_fits_is_only_escaped() -> None:
    assert fit.quote("a **bold** move", 100) == r"a \*\*bold\*\* move"


def test_quote_counts_wide_characters_as_discord_does() -> None:
    result = fit.quote("😀" * 600, 1000)

    assert fit.size(result) <= 1000
    assert len(result) == 500  # 499 emoji (two units each) and the ellipsis


def test_quote_makes_mentions_inert() -> None:
    result = fit.quote(f"hey @everyone and @here and {USER_MENTION} and <@&123456789012345678>", 500)

    assert "@everyone" not in result
    assert "@here" not in result
    assert "<@123456789012345678>" not in result
    assert "<@&123456789012345678>" not in result


def test_a_mention_cut_in_half_pings_nobody_either() -> None:
    text = "x" * 10 + "@everyone"
    for limit in range(5, 25):
        assert "@everyone" not in fit.quote(text, limit)


# A placeholder in the shape of a Discord bot token (base64 id . 6 chars . 27+ chars), built so no token-like literal
# sits in the source.
FAKE_BOT_TOKEN = ".".join(("PLACEHOLDERxBOTxIDxNOTxREAL", "FAKEfk", "x" * 30))


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("refused key sk-live-abcdef1234567890", "sk-live-abcdef1234567890"),
        ("header was Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("bearer abcdefghijklmnop", "abcdefghijklmnop"),
        (f"token {FAKE_BOT_TOKEN} leaked", FAKE_BOT_TOKEN),
    ],
)
def test_secret_shaped_words_are_scrubbed(text: str, leaked: str) -> None:
    scrubbed = fit.scrub_secrets(text)

    assert leaked not in scrubbed
    assert fit.REDACTED in scrubbed


def test_given_secret_values_are_scrubbed_whatever_their_shape() -> None:
    scrubbed = fit.scrub_secrets("the key was plainvalue-0042 and short abc", ["plainvalue-0042", "abc"])

    assert scrubbed == "the key was [redacted] and short abc"  # values under 8 characters are ordinary words


def test_ordinary_words_are_not_scrubbed() -> None:
    text = "The task-ask was skipped: sk- alone, bearer of bad news, version 1.2.3"

    assert fit.scrub_secrets(text) == text


def test_api_text_is_one_line_scrubbed_escaped_and_cut() -> None:
    reason = "Upstream said:\n\n**nope** for sk-abcdefghijklmnop_qrs @everyone " + "x" * 2000

    shown = fit.api_text(reason, 300)

    assert fit.size(shown) <= 300
    assert "\n" not in shown
    assert "sk-abc" not in shown
    assert r"\*\*nope\*\*" in shown
    assert "@everyone" not in shown


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://cdn.example.com/v/clip.mp4?sig=abc", True),
        ("http://127.0.0.1:8080/files/x.mp4", True),
        ("ftp://cdn.example.com/clip.mp4", False),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("https://cdn.example.com/a clip.mp4", False),
        ("https://cdn.example.com/clip.mp4>now **bold** text", False),
        ("https://cdn.example.com/clip.mp4\n@everyone", False),
        ("https:///no-host", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_link(url: str | None, safe: bool) -> None:
    assert fit.safe_link(url) == (url if safe else None)


def test_shares_give_short_parts_all_they_need_and_split_the_rest_evenly() -> None:
    assert fit.shares([10, 500, 500], 600) == [10, 295, 295]
    assert fit.shares([100, 100], 1000) == [100, 100]
    assert fit.shares([512] * 6, 1800) == [300] * 6
    assert fit.shares([], 100) == []
    assert fit.shares([5, 5], -3) == [0, 0]


def test_fit_content_is_the_last_guard() -> None:
    assert fit.size(fit.fit_content("y" * 5000)) == fit.CONTENT_LIMIT
    assert fit.fit_content("short") == "short"
