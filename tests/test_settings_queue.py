"""MAX_RENDERS_AT_API: no cap unless set, a whole number above zero, and listed where operators look."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

REQUIRED = {"DISCORD_TOKEN": "discord.token.value-1234567890", "MODELSTREAM_API_KEY": "sk-modelstream-key-0987"}
ROOT = Path(__file__).resolve().parent.parent


def test_there_is_no_cap_unless_one_is_set() -> None:
    assert load_settings(REQUIRED, env_file=None).max_renders_at_api is None


@pytest.mark.parametrize(("raw", "cap"), [("2", 2), ("40", 40), ("unlimited", None), ("none", None)])
def test_the_cap_is_read(raw: str, cap: int | None) -> None:
    assert load_settings({**REQUIRED, "MAX_RENDERS_AT_API": raw}, env_file=None).max_renders_at_api == cap


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_cap_that_is_no_whole_number_above_zero_is_named_with_how_to_fix_it(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**REQUIRED, "MAX_RENDERS_AT_API": raw}, env_file=None)

    assert str(caught.value) == (
        f"MAX_RENDERS_AT_API={raw!r} is not valid: use a whole number > 0, or 'unlimited' for no cap."
    )


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_the_setting_is_documented(document: str) -> None:
    assert "MAX_RENDERS_AT_API" in (ROOT / document).read_text(encoding="utf-8")
