"""The run directory and its append-only journal.

Layout: `config.json` (what was asked), `journal.jsonl` (one JSON event per line, flushed as
written), `cache.jsonl` (every evaluated example), `result.json`, `summary.md`, `prompt.txt`.

Resuming replays the run: the engine is deterministic given its journal and cache, so it emits the
same events again; the journal recognises events it already holds (by position and kind) and does
not write them twice, and serves recorded editor proposals instead of calling the LM again.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from spl_opt.core.errors import RunDirError
from spl_opt.core.jsonl import open_append

JOURNAL = "journal.jsonl"
CACHE = "cache.jsonl"
CONFIG = "config.json"
SESSION = "session"  # bookkeeping events, outside the replayed sequence


class Journal:
    """Append-only event log with replay of an earlier session's events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self.torn_lines = 0
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        self.events.append(json.loads(line))
                    except ValueError:
                        self.torn_lines += 1  # a write cut by a kill: that event is simply redone
        self._replay = [e for e in self.events if e.get("event") != SESSION]
        self._told = {str(e.get("key")) for e in self._replay if e.get("event") == "tell"}
        self._cursor = 0
        self._lock = threading.Lock()  # session events may come from backend threads
        self._file = open_append(path)

    @property
    def replaying(self) -> bool:
        return self._cursor < len(self._replay)

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Write an event, unless it is the next one of the replayed sequence (then return that one)."""
        with self._lock:
            return self._append(event, data)

    def _append(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if event != SESSION and self.replaying:
            recorded = self._replay[self._cursor]
            scalars = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
            if recorded.get("event") != event or any(recorded.get(k) != v for k, v in scalars.items()):
                raise RunDirError(
                    f"{self.path}: resume diverged at event {self._cursor} (journal has "
                    f"{recorded.get('event')!r}, the run produced {event!r} {scalars}); "
                    "were the code, data or config changed?"
                )
            self._cursor += 1
            return recorded
        record = {"event": event, "time": round(time.time(), 3), **data}
        self._file.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.events.append(record)
        return record

    def told(self, key: str) -> bool:
        """Whether an earlier session already told the result of the work under `key`."""
        return key in self._told

    def recorded(self, event: str) -> dict[str, Any] | None:
        """The next replayed event if it is of kind `event` (without consuming it)."""
        if self.replaying and self._replay[self._cursor].get("event") == event:
            return self._replay[self._cursor]
        return None

    def recorded_where(self, event: str, **match: Any) -> dict[str, Any] | None:
        """The first replayed event of kind `event` with the given field values, wherever it is."""
        return next(
            (
                e
                for e in self._replay
                if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
            ),
            None,
        )

    def of_kind(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    def close(self) -> None:
        self._file.close()


def check_resumable(run_dir: Path) -> None:
    """A one-line RunDirError saying what is wrong if `run_dir` cannot be resumed: no config, a config
    that is not JSON, or a journal whose lines (beyond one torn by a kill) are not events. A missing
    journal is a run killed before its first event: resuming it starts it."""
    read_config(run_dir)
    path = run_dir / JOURNAL
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    bad = sum(not _is_event(line) for line in lines)
    if bad > 1 or (lines and bad == len(lines)):
        raise RunDirError(
            f"{path} is damaged: {bad} of {len(lines)} lines are not journal events; "
            f"move it away to start the run afresh"
        )


def _is_event(line: str) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "event" in record


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_config(run_dir: Path) -> dict[str, Any]:
    """The config a run was started with; a clear error for a directory that is not a run."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not an spl-opt run directory (no {CONFIG})")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from exc
    return data
