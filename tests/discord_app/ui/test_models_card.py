"""The `/video models` card: what a member reads about each model before picking one."""

from __future__ import annotations

import copy
import tomllib

from bot.discord_app.ui.models_card import describe_model, models_embed
from bot.domain.models import SHIPPED_MODELS, load_model_table, parse_model_table
from bot.domain.validation import ModelChoice

TABLE = load_model_table()


def test_every_enabled_model_has_a_field_with_the_default_first() -> None:
    embed = models_embed(ModelChoice(TABLE, "wan-2.6"))

    names = [field.name for field in embed.fields]
    assert len(names) == len(TABLE.enabled())
    assert names[0] == "Wan 2.6 (`wan-2.6`) · default here"


def test_a_model_line_says_what_it_takes_and_costs() -> None:
    text = describe_model(TABLE.get("veo-3.1"))  # type: ignore[arg-type]

    assert "Modes: text, image (first frame)" in text
    assert "Length 4, 6 or 8 s" in text
    assert "Shapes 16:9, 9:16" in text
    assert "sound on/off (default on)" in text and "seed" in text
    assert "Cost: 3/s std, 4/s pro, +2/s with sound" in text


def test_lengths_that_differ_by_mode_are_said_per_mode() -> None:
    text = describe_model(TABLE.get("wan-2.6"))  # type: ignore[arg-type]

    assert "2–10 s (reference)" in text
    assert "always with sound in text mode" in text


def test_models_turned_off_here_are_listed_apart_with_the_reason() -> None:
    choice = ModelChoice(TABLE, "kling-v3", {"veo-3.1": "it is turned off in this server"})

    embed = models_embed(choice)

    assert not any("`veo-3.1`" in field.name for field in embed.fields if field.name != "Not available here")
    assert "`veo-3.1`: it is turned off in this server" in field_named(embed, "Not available here")


def test_no_usable_model_says_to_ask_a_moderator() -> None:
    everything_off = {spec.key: "it is turned off in this server" for spec in TABLE.enabled()}

    embed = models_embed(ModelChoice(TABLE, "kling-v3", everything_off))

    assert embed.description is not None and "ask a moderator" in embed.description


def test_the_card_fits_discord_embed_limits() -> None:
    embed = models_embed(ModelChoice(TABLE, "kling-v3"))

    assert len(embed) <= 6000
    assert all(len(field.value or "") <= 1024 and len(field.name or "") <= 256 for field in embed.fields)


def field_named(embed: object, name: str) -> str:
    for field in embed.fields:  # type: ignore[attr-defined]
        if field.name == name:
            return str(field.value)
    raise AssertionError(f"no field {name}")


def test_a_table_of_many_models_stays_within_the_embed_limit_and_names_the_rest() -> None:
    data = tomllib.loads(SHIPPED_MODELS.read_text(encoding="utf-8"))
    for n in range(17):
        data["models"][f"wan-copy-{n}"] = copy.deepcopy(data["models"]["wan-2.6"])
    table = parse_model_table(data)

    embed = models_embed(ModelChoice(table, "kling-v3"))

    assert len(table.enabled()) == 24
    assert len(embed) <= 6000 and len(embed.fields) <= 25
    assert "`wan-copy-16`" in field_named(embed, "More models")
