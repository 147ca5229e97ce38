"""The model table: the shipped entries parse, a broken table is refused in one line, an operator's file merges."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import (
    HOOKS,
    MAX_ENABLED_MODELS,
    SHIPPED_MODELS,
    Durations,
    ImageTransport,
    ModelTable,
    ModelTableError,
    SoundSupport,
    Target,
    VideoLocation,
    load_model_table,
    parse_model_table,
)
from bot.domain.request import AspectRatio, GenerationMode, QualityMode
from bot.videoapi.payload import HOOK_CODE

SHIPPED_KEYS = ["kling-v3", "seedance-2.0", "veo-3.1", "wan-2.6", "wan-2.7", "happyhorse-1.0", "vidu-q3"]
TEXT, IMAGE, REFERENCE = GenerationMode.TEXT, GenerationMode.IMAGE, GenerationMode.REFERENCE


def shipped_data() -> dict[str, Any]:
    with SHIPPED_MODELS.open("rb") as handle:
        return tomllib.load(handle)


def broken(change: Any) -> str:
    """The one-line message for the shipped table after `change(data)` edits it."""
    data = shipped_data()
    change(data)
    with pytest.raises(ModelTableError) as caught:
        parse_model_table(data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def write(tmp_path: Path, text: str, name: str = "operator.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped table -----------------------------------------------------------------------------------


def test_every_shipped_entry_parses_in_order() -> None:
    table = load_model_table()

    assert [spec.key for spec in table] == SHIPPED_KEYS
    assert [spec.key for spec in table.enabled()] == SHIPPED_KEYS


def test_shipped_modes_and_api_ids() -> None:
    ids = {
        spec.key: {mode.value: mode_spec.api_id for mode, mode_spec in spec.modes.items()}
        for spec in load_model_table()
    }

    assert ids == {
        "kling-v3": {"text": "kling-v3", "image": "kling-v3", "reference": "kling-v3"},
        "seedance-2.0": {"text": "seedance-2.0", "image": "seedance-2.0", "reference": "seedance-2.0"},
        "veo-3.1": {"text": "veo-3.1", "image": "veo-3.1"},
        "wan-2.6": {"text": "wan2.6-t2v", "image": "wan2.6-i2v-flash", "reference": "wan2.6-r2v"},
        "wan-2.7": {"text": "wan2.7-t2v", "image": "wan2.7-i2v", "reference": "wan2.7-r2v"},
        "happyhorse-1.0": {
            "text": "happyhorse-1.0-t2v",
            "image": "happyhorse-1.0-i2v",
            "reference": "happyhorse-1.0-r2v",
        },
        # No ModelStream page documents a Vidu Q3 text-to-video id.
        "vidu-q3": {"image": "viduq3-pro", "reference": "viduq3"},
    }


def test_only_kling_is_verified_and_it_names_its_guesses() -> None:
    table = load_model_table()

    assert [spec.key for spec in table if spec.verified] == ["kling-v3"]
    kling = table.get("kling-v3")
    assert kling is not None and set(kling.guessed) == {"sound", "references"}


def test_shipped_transports_and_video_places() -> None:
    table = {spec.key: spec for spec in load_model_table()}

    assert {key: spec.image_transport for key, spec in table.items()} == {
        "kling-v3": ImageTransport.BASE64,
        "seedance-2.0": ImageTransport.DATA_URI,
        "veo-3.1": ImageTransport.DATA_URI,
        "wan-2.6": ImageTransport.URL,
        "wan-2.7": ImageTransport.URL,
        "happyhorse-1.0": ImageTransport.URL,
        "vidu-q3": ImageTransport.URL,
    }
    assert [key for key, spec in table.items() if spec.video is VideoLocation.CONTENT] == ["veo-3.1"]


def test_shipped_per_mode_differences() -> None:
    table = load_model_table()
    veo, wan26, vidu, horse = (table.get(key) for key in ("veo-3.1", "wan-2.6", "vidu-q3", "happyhorse-1.0"))
    assert veo is not None and wan26 is not None and vidu is not None and horse is not None

    assert veo.modes[TEXT].durations == Durations(4, 8, (4, 6, 8))
    assert veo.modes[TEXT].default_duration == 8
    assert wan26.modes[TEXT].durations == Durations(2, 15)
    assert wan26.modes[REFERENCE].durations == Durations(2, 10)
    assert wan26.modes[TEXT].sound is SoundSupport.ALWAYS
    assert wan26.modes[IMAGE].sound is SoundSupport.OPTIONAL
    assert wan26.modes[REFERENCE].hook == "wan_size"
    assert wan26.modes[REFERENCE].fields["mode"] == (Target(("size",)),)
    assert wan26.modes[TEXT].fields["mode"] == (Target(("resolution",)),)
    assert TEXT not in vidu.modes
    assert vidu.modes[IMAGE].durations == Durations(1, 16)
    assert vidu.modes[REFERENCE].durations == Durations(3, 16)
    assert (vidu.modes[IMAGE].prompt_max, vidu.modes[REFERENCE].prompt_max) == (2500, 2000)
    assert AspectRatio.CINEMA in horse.modes[REFERENCE].aspect_ratios
    assert AspectRatio.CINEMA not in horse.modes[TEXT].aspect_ratios
    assert (horse.modes[TEXT].image_min_side, horse.modes[REFERENCE].image_min_side) == (300, 400)


def test_shipped_field_targets_are_read_as_paths() -> None:
    table = load_model_table()
    kling, seedance = table.get("kling-v3"), table.get("seedance-2.0")
    assert kling is not None and seedance is not None

    assert kling.modes[TEXT].fields["watermark"] == (Target(("metadata", "watermark_info", "enabled")),)
    assert kling.modes[REFERENCE].fields["references"] == (
        Target(("metadata", "image_list"), item={"image_url": "{image}"}),
    )
    assert seedance.modes[TEXT].fields["duration"] == (
        Target(("duration",)),
        Target(("seconds",), as_text=True),
        Target(("metadata", "duration")),
    )
    assert seedance.modes[IMAGE].fields["first_frame"][0] == Target(("images",), append=True)
    assert kling.modes[TEXT].wire_value("sound", True) == "on"
    assert kling.modes[TEXT].wire_value("sound", False) == "off"
    assert kling.modes[TEXT].wire_value("mode", "pro") == "pro"
    assert seedance.modes[TEXT].wire_value("mode", QualityMode.PRO.value) == "1080p"


def test_hook_names_are_the_payload_builders_hooks() -> None:
    assert set(HOOKS) == set(HOOK_CODE)


# --- a broken table: one line naming the entry and the field -----------------------------------------------


def drop(key: str, field: str) -> Any:
    return lambda data: data["models"][key].pop(field)


def put(key: str, field: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["models"][key][field] = value

    return change


def put_field(key: str, option: str, path: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["models"][key]["fields"][option] = path

    return change


BROKEN = [
    pytest.param(drop("veo-3.1", "name"), "veo-3.1", "name", "missing", id="missing-name"),
    pytest.param(drop("wan-2.7", "durations"), "wan-2.7", "durations", "missing", id="missing-durations"),
    pytest.param(drop("kling-v3", "cost"), "kling-v3", "cost", "missing", id="missing-cost"),
    pytest.param(drop("vidu-q3", "fields"), "vidu-q3", "fields", "missing", id="missing-fields"),
    pytest.param(put("kling-v3", "prompt_max", "2500"), "kling-v3", "prompt_max", "whole number", id="text-for-number"),
    pytest.param(put("kling-v3", "references", True), "kling-v3", "references", "whole number", id="bool-for-number"),
    pytest.param(put("veo-3.1", "durations", "4-8"), "veo-3.1", "durations", "expected", id="text-for-durations"),
    pytest.param(put("veo-3.1", "seed", "yes"), "veo-3.1", "seed", "true or false", id="text-for-bool"),
    pytest.param(put("wan-2.6", "colour", "red"), "wan-2.6", "colour", "unknown key", id="unknown-key"),
    pytest.param(put("veo-3.1", "default_duration", 5), "veo-3.1", "default_duration", "4, 6 or 8 s", id="bad-default"),
    pytest.param(put("kling-v3", "hook", "sora"), "kling-v3", "hook", "unknown hook 'sora'", id="unknown-hook"),
    pytest.param(
        put_field("happyhorse-1.0", "colour", "metadata.colour"),
        "happyhorse-1.0",
        "fields.colour",
        "not an option",
        id="unknown-option-in-fields",
    ),
    pytest.param(put("kling-v3", "seed", True), "kling-v3", "fields.seed", "missing", id="seed-without-field"),
    pytest.param(
        put_field("kling-v3", "seed", "metadata.seed"),
        "kling-v3",
        "fields.seed",
        "seed is off",
        id="field-without-seed",
    ),
    pytest.param(
        put("kling-v3", "sound", "none"), "kling-v3", "fields.sound", "sound is off", id="field-without-sound"
    ),
    pytest.param(put("wan-2.6", "image_transport", "ftp"), "wan-2.6", "image_transport", "'ftp'", id="bad-transport"),
    pytest.param(put("veo-3.1", "video", "email"), "veo-3.1", "video", "'email'", id="bad-video-place"),
    pytest.param(put("seedance-2.0", "references", 5), "seedance-2.0", "references", "at most 4", id="five-references"),
    pytest.param(put("kling-v3", "multi_shot", "yes"), "kling-v3", "multi_shot", "true or false", id="bad-multi-shot"),
    pytest.param(
        put("seedance-2.0", "multi_shot", True), "seedance-2.0", "multi_shot", "hook", id="multi-shot-no-hook"
    ),
    pytest.param(
        put("vidu-q3", "reference_syntax", "image"), "vidu-q3", "reference_syntax", '"{n}"', id="syntax-without-n"
    ),
    pytest.param(
        put("vidu-q3", "reference_syntax", "{who} {n}"), "vidu-q3", "reference_syntax", "braces", id="syntax-braces"
    ),
    pytest.param(
        put("wan-2.6", "ids", {"text": "wan2.6-t2v", "video": "x"}), "wan-2.6", "ids.video", "mode", id="unknown-mode"
    ),
    pytest.param(put("wan-2.6", "ids", {}), "wan-2.6", "ids", "at least one", id="no-ids"),
    pytest.param(
        put("kling-v3", "aspect_ratios", ["16:9", "2:1"]), "kling-v3", "aspect_ratios", "'2:1'", id="unknown-ratio"
    ),
    pytest.param(
        put("kling-v3", "resolutions", {"std": "720p", "ultra": "4K"}),
        "kling-v3",
        "resolutions.ultra",
        "std and pro",
        id="unknown-quality",
    ),
    pytest.param(
        put("kling-v3", "durations", {"min": 10, "max": 5}), "kling-v3", "durations", "above max", id="min-over-max"
    ),
    pytest.param(
        put("kling-v3", "cost", {"std": 1, "pro": 2, "audio": 1}), "kling-v3", "cost.audio", "unknown", id="cost-key"
    ),
    pytest.param(
        put("kling-v3", "cost", {"std": 1, "pro": "2"}), "kling-v3", "cost.pro", "whole number", id="cost-type"
    ),
    pytest.param(
        put_field("wan-2.6", "seed", "metadata..seed"), "wan-2.6", "fields.seed", "empty part", id="empty-path-part"
    ),
    pytest.param(
        put_field("wan-2.6", "seed", {"path": "seed", "type": "number"}),
        "wan-2.6",
        "fields.seed",
        "type",
        id="bad-type",
    ),
    pytest.param(
        put("veo-3.1", "modes", {"image": {"colour": 1}}), "veo-3.1", "modes.image.colour", "unknown", id="mode-key"
    ),
    pytest.param(
        put_field("kling-v3", "references", {"path": "metadata.image_list", "item": {"image_url": "{url}"}}),
        "kling-v3",
        "fields.references",
        '"{image}"',
        id="item-without-image",
    ),
    pytest.param(
        put_field("seedance-2.0", "first_frame", ["images[]", {"path": "metadata.content[]", "item": "first"}]),
        "seedance-2.0",
        "fields.first_frame",
        '"{image}"',
        id="text-item-without-image",
    ),
    pytest.param(
        put("happyhorse-1.0", "image_min_side", 299), "happyhorse-1.0", "image_min_side", "at least 300", id="min-299"
    ),
    pytest.param(
        put("wan-2.7", "image_min_side", True), "wan-2.7", "image_min_side", "whole number", id="bool-min-side"
    ),
]


@pytest.mark.parametrize(("change", "entry", "field", "words"), BROKEN)
def test_broken_entry_is_one_line_naming_entry_and_field(change: Any, entry: str, field: str, words: str) -> None:
    message = broken(change)

    assert f'model "{entry}"' in message
    assert f'field "{field}"' in message
    assert words in message


def test_a_reference_mode_without_references_is_refused() -> None:
    message = broken(put("happyhorse-1.0", "references", 0))

    assert 'model "happyhorse-1.0", field "references"' in message
    assert "reference mode" in message


def test_an_entry_that_is_not_a_table_is_refused() -> None:
    message = broken(lambda data: data["models"].__setitem__("sora", "yes"))

    assert 'model "sora" must be a table' in message


def test_a_table_without_entries_is_refused() -> None:
    with pytest.raises(ModelTableError, match=r"no \[models\.<key>\] entries"):
        parse_model_table({"models": {}})


def test_an_unknown_top_level_key_is_refused() -> None:
    data = shipped_data()
    data["model"] = {}

    with pytest.raises(ModelTableError, match="unknown top-level key 'model'"):
        parse_model_table(data)


def test_toml_syntax_error_names_the_file_in_one_line(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."wan-2.6"\nname = "Wan"\n')

    with pytest.raises(ModelTableError) as caught:
        load_model_table(operator)

    message = str(caught.value)
    assert message.startswith("operator.toml: not valid TOML")
    assert "line 1" in message
    assert "\n" not in message


def test_missing_operator_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelTableError) as caught:
        load_model_table(tmp_path / "models.local.toml")

    assert str(caught.value) == f"{tmp_path / 'models.local.toml'}: no such file"


def test_an_operators_fault_names_both_files(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."veo-3.1"]\ndefault_duration = 5\n')

    with pytest.raises(ModelTableError) as caught:
        load_model_table(operator)

    assert str(caught.value).startswith('models.toml + operator.toml: model "veo-3.1", field "default_duration"')


# --- an operator's file merged over the shipped table -------------------------------------------------------


def test_renaming_one_field_changes_only_that_field(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."wan-2.6".fields]\nnegative_prompt = "metadata.negative_prompt"\n')
    shipped = {spec.key: spec for spec in load_model_table()}

    merged = {spec.key: spec for spec in load_model_table(operator)}

    assert list(merged) == list(shipped)
    for key in SHIPPED_KEYS:
        if key != "wan-2.6":
            assert merged[key] == shipped[key]
    before, after = shipped["wan-2.6"], merged["wan-2.6"]
    assert dataclasses.replace(after, modes=before.modes) == before
    for mode, spec in after.modes.items():
        assert spec.fields["negative_prompt"] == (Target(("metadata", "negative_prompt")),)
        fields = dict(spec.fields)
        fields["negative_prompt"] = before.modes[mode].fields["negative_prompt"]
        assert dataclasses.replace(spec, fields=fields) == before.modes[mode]


def test_an_operator_file_adds_a_model(tmp_path: Path) -> None:
    operator = write(
        tmp_path,
        """
[models.viduq2]
name = "Vidu Q2"
ids = { text = "viduq2" }
durations = { min = 1, max = 10 }
default_duration = 5
resolutions = { std = "720p", pro = "1080p" }
aspect_ratios = ["16:9", "9:16", "1:1", "4:3", "3:4"]
prompt_max = 2000
seed = true
image_transport = "url"
video = "status"
video_path = "data.creations.0.url"
cost = { std = 1, pro = 3 }

[models.viduq2.fields]
prompt = "prompt"
duration = "duration"
mode = "resolution"
aspect_ratio = "aspect_ratio"
seed = "seed"
""",
    )

    table = load_model_table(operator)

    assert [spec.key for spec in table] == [*SHIPPED_KEYS, "viduq2"]
    added = table.get("viduq2")
    assert added is not None
    assert (added.name, added.verified, added.enabled, added.video_path) == (
        "Vidu Q2",
        False,
        True,
        "data.creations.0.url",
    )
    assert list(added.modes) == [TEXT]
    text = added.modes[TEXT]
    assert (text.api_id, text.durations, text.prompt_max, text.seed, text.sound) == (
        "viduq2",
        Durations(1, 10),
        2000,
        True,
        SoundSupport.NONE,
    )
    assert (added.cost.std, added.cost.pro, added.cost.sound) == (1, 3, 0)


def test_enabled_false_turns_a_model_off(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."veo-3.1"]\nenabled = false\n[models.vidu-q3]\nenabled = false\n')

    table = load_model_table(operator)

    assert "veo-3.1" in table
    spec = table.get("veo-3.1")
    assert spec is not None and spec.enabled is False
    assert [spec.key for spec in table.enabled()] == [key for key in SHIPPED_KEYS if key not in ("veo-3.1", "vidu-q3")]


def test_disabling_every_model_is_an_error(tmp_path: Path) -> None:
    operator = write(tmp_path, "".join(f'[models."{key}"]\nenabled = false\n' for key in SHIPPED_KEYS))

    with pytest.raises(ModelTableError, match="every model is disabled"):
        load_model_table(operator)


def many_enabled(count: int) -> dict[str, Any]:
    """The shipped table plus copies of wan-2.7, so that `count` models are enabled."""
    data = shipped_data()
    models = data["models"]
    for number in range(count - len(models)):
        models[f"wan-copy-{number}"] = copy.deepcopy(models["wan-2.7"])
    return data


def test_as_many_enabled_models_as_discord_offers_choices_load() -> None:
    table = parse_model_table(many_enabled(MAX_ENABLED_MODELS))

    assert len(table.enabled()) == MAX_ENABLED_MODELS


def test_more_enabled_models_than_discord_offers_choices_is_refused_in_one_line() -> None:
    with pytest.raises(ModelTableError) as caught:
        parse_model_table(many_enabled(MAX_ENABLED_MODELS + 1))

    message = str(caught.value)
    assert message.startswith(f"models.toml: {MAX_ENABLED_MODELS + 1} models are enabled;")
    assert f"at most {MAX_ENABLED_MODELS}" in message
    assert "enabled = false" in message
    assert "\n" not in message


def test_disabled_models_do_not_count_against_discords_limit() -> None:
    data = many_enabled(MAX_ENABLED_MODELS + 3)
    for key in ("wan-copy-0", "wan-copy-1", "wan-copy-2"):
        data["models"][key]["enabled"] = False

    table = parse_model_table(data)

    assert len(table.enabled()) == MAX_ENABLED_MODELS
    assert "wan-copy-0" in table


def test_image_min_side_defaults_to_300_and_is_set_per_mode(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."wan-2.6".modes.image]\nimage_min_side = 512\n')
    shipped = load_model_table()

    wan = load_model_table(operator).get("wan-2.6")

    assert {
        (spec.key, mode): mode_spec.image_min_side
        for spec in shipped
        for mode, mode_spec in spec.modes.items()
        if mode_spec.image_min_side != 300
    } == {("happyhorse-1.0", REFERENCE): 400}
    assert wan is not None
    assert {mode: spec.image_min_side for mode, spec in wan.modes.items()} == {TEXT: 300, IMAGE: 512, REFERENCE: 300}


def test_image_copies_counts_the_places_one_image_goes() -> None:
    table = load_model_table()
    seedance, kling, veo = (table.get(key) for key in ("seedance-2.0", "kling-v3", "veo-3.1"))
    assert seedance is not None and kling is not None and veo is not None

    # Seedance carries each image in `images` and in metadata.content.
    assert [spec.image_copies() for spec in seedance.modes.values()] == [2, 2, 2]
    assert [spec.image_copies() for spec in kling.modes.values()] == [1, 1, 1]
    assert [spec.image_copies() for spec in veo.modes.values()] == [1, 1]


def test_a_model_without_image_fields_counts_one_copy(tmp_path: Path) -> None:
    operator = write(
        tmp_path,
        """
[models.text-only]
name = "Text only"
ids = { text = "text-only-1" }
durations = { min = 1, max = 10 }
default_duration = 5
resolutions = { std = "720p" }
aspect_ratios = ["16:9"]
prompt_max = 2000
image_transport = "url"
video = "status"
cost = { std = 1, pro = 1 }

[models.text-only.fields]
prompt = "prompt"
duration = "duration"
mode = "resolution"
aspect_ratio = "ratio"
""",
    )

    spec = load_model_table(operator).get("text-only")

    assert spec is not None
    assert spec.modes[TEXT].image_copies() == 1


def test_a_mode_override_from_the_operator_changes_that_mode_only(tmp_path: Path) -> None:
    operator = write(tmp_path, '[models."wan-2.6".modes.image]\ndurations = { min = 2, max = 10 }\n')

    wan = load_model_table(operator).get("wan-2.6")

    assert wan is not None
    assert wan.modes[IMAGE].durations == Durations(2, 10)
    assert wan.modes[TEXT].durations == Durations(2, 15)


def test_parsing_leaves_the_data_as_it_was() -> None:
    data = shipped_data()
    before = copy.deepcopy(data)

    parse_model_table(data)

    assert data == before


def test_model_table_lookups() -> None:
    table = ModelTable(load_model_table())

    assert table.get("sora") is None
    assert "sora" not in table
    kling = table.get("kling-v3")
    assert kling is not None
    assert kling.label == "Kling 3.0 (`kling-v3`)"
    assert kling.mode(GenerationMode.REFERENCE) is not None
    veo = table.get("veo-3.1")
    assert veo is not None and veo.mode(GenerationMode.REFERENCE) is None
    assert kling.offers("multi_shot") and not veo.offers("multi_shot")
    with pytest.raises(ValueError, match="not a capability"):
        kling.offers("colour")
