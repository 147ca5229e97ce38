"""The one description of moderator settings: every entry fits the rules it stores, and its codec round-trips."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from bot.domain.quota_types import ApprovalRules, GuildRules
from bot.domain.request import AspectRatio, ChannelDefaults, QualityMode
from bot.domain.settings_catalog import SETTINGS, Catalog, Scope, Setting


def test_every_guild_setting_is_a_field_of_the_guild_rules() -> None:
    names = {f.name for f in fields(GuildRules)}

    assert {s.field for s in SETTINGS.of(Scope.GUILD)} <= names


def test_every_channel_default_is_described_once() -> None:
    assert sorted(s.field for s in SETTINGS.of(Scope.CHANNEL)) == sorted(f.name for f in fields(ChannelDefaults))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("daily_budget", None),
        ("daily_budget", 300),
        ("cooldown_seconds", 30),
        ("exempt_role_ids", frozenset({4_000_000_000_000_000_004, 5})),
        ("paused", True),
        ("approval", ApprovalRules(enabled=True, min_cost=20)),
        ("default_model", "wan-2.6"),
        ("disabled_models", frozenset({"veo-3.1", "kling-v3"})),
        ("channel_defaults.mode", QualityMode.PRO),
        ("channel_defaults.aspect_ratio", AspectRatio.TALL),
        ("channel_defaults.sound", False),
    ],
)
def test_a_value_comes_back_as_it_was_stored(key: str, value: Any) -> None:
    codec = SETTINGS[key].codec

    stored = codec.dump(value)

    assert stored is not None  # None in storage means "not set", never a value
    assert codec.load(stored) == value


def test_unlimited_is_stored_as_minus_one_and_audited_as_null() -> None:
    codec = SETTINGS["default_daily_credits"].codec

    assert (codec.dump(None), codec.load(-1), codec.to_json(None)) == (-1, None, None)


def test_sets_are_audited_as_sorted_lists() -> None:
    audited = SETTINGS["disabled_models"].codec.to_json(frozenset({"wan-2.6", "kling-v3"}))

    assert json.dumps(audited) == '["kling-v3", "wan-2.6"]'


def test_unknown_keys_are_labelled_as_themselves() -> None:
    assert SETTINGS.label("channel_defaults.sound") == "Default sound"
    assert SETTINGS.label("retired_setting") == "retired_setting"


def test_a_setting_described_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="described twice"):
        Catalog([Setting("paused", "Paused"), Setting("paused", "Paused again")])


def test_a_stored_setting_needs_its_column() -> None:
    with pytest.raises(ValueError, match="only GUILD and CHANNEL settings are stored"):
        Catalog([Setting("paused", "Paused", Scope.GUILD)])
