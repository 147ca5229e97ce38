"""Output files: written under a scratch name in the work dir, removed whole if the job fails or times out."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_output(work_dir: Path, prefix: str) -> Iterator[Path]:
    """A fresh .mp4 path in `work_dir` that is deleted if the block raises; the caller owns it afterwards."""
    work_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".mp4", dir=work_dir)
    os.close(handle)
    path = Path(name)
    try:
        yield path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def file_size(path: Path) -> int:
    return path.stat().st_size
