"""A local record of every task the API accepted, written before the database hears of it.

The create call is the one step that costs money and cannot be repeated safely. If the database write that records
its task id fails (or the process dies just then), the render would look lost; this file, in the tracker's work
directory, lets the same process find the task again after a restart and keep polling it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)


class TaskJournal:
    def __init__(self, path: Path) -> None:
        self._path = path

    def record(self, render_id: str, task_id: str, request_id: str | None) -> None:
        line = json.dumps({"render": render_id, "task": task_id, "request": request_id}) + "\n"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as journal:
                journal.write(line)
                journal.flush()
                os.fsync(journal.fileno())
        except OSError as error:
            # The database write still follows: the journal is the second line of defence, not the first.
            log.warning("render %s: task %s not written to the journal (%s)", render_id, task_id, error)

    def find(self, render_id: str) -> tuple[str, str | None] | None:
        for entry in self._entries():
            task, request = entry.get("task"), entry.get("request")
            if entry.get("render") == render_id and isinstance(task, str):
                return task, request if isinstance(request, str) else None
        return None

    def keep_only(self, render_ids: Collection[str]) -> None:
        """Drop the entries of renders whose task id the database now holds (called at start-up)."""
        kept = [entry for entry in self._entries() if entry.get("render") in render_ids]
        if not kept:
            self._path.unlink(missing_ok=True)
            return
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text("".join(json.dumps(entry) + "\n" for entry in kept), encoding="utf-8")
        temporary.replace(self._path)

    def _entries(self) -> list[dict[str, object]]:
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(entry, dict):
                entries.append(entry)
        return entries
