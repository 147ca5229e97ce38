"""The README's model-table example is real: it parses over the shipped table and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.models import load_model_table
from bot.domain.request import GenerationMode

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_operator_file_loads_and_changes_what_it_says(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "the README shows an operator file"
    operator_file = tmp_path / "my-models.toml"
    operator_file.write_text(blocks[0], encoding="utf-8")

    table = load_model_table(operator_file)

    wan = table.get("wan-2.6")
    assert wan is not None
    wan_text = wan.mode(GenerationMode.TEXT)
    assert wan_text is not None and wan_text.fields["negative_prompt"][0].path == ("metadata", "negative_prompt")
    assert wan_text.fields["seed"][0].path == ("seed",), "only the named field changes"
    veo = table.get("veo-3.1")
    assert veo is not None and not veo.enabled
    mine = table.get("my-model")
    assert mine is not None and mine.enabled and set(mine.modes) == {GenerationMode.TEXT}
