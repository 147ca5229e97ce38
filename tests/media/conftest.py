from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """Where outputs go; tests check that nothing but returned files is ever left in it."""
    return tmp_path / "work"
