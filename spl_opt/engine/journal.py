"""The run directory and its append-only journal.

Layout: `config.json` (what was asked), `journal.jsonl` (one event per line, see
`spl_opt.engine.events`, fsynced as written), `cache.jsonl` (every evaluated example), `result.json`,
`summary.md`, `prompt.txt`. What a resumed run takes back from its journal is `spl_opt.engine.replay`'s
job; this module only reads and writes the file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from spl_opt.core.errors import RunDirError
from spl_opt.core.jsonl import open_append
from spl_opt.engine.events import Event, event_line, parse_event

JOURNAL = "journal.jsonl"
CACHE = "cache.jsonl"
CONFIG = "config.json"

E = TypeVar("E", bound=Event)


def read_events(path: Path) -> tuple[list[Event], int]:
    """The events of the journal at `path` and the number of lines that are none (a line torn by a
    kill, or damage); ([], 0) when there is no journal."""
    events: list[Event] = []
    bad = 0
    if not path.is_file():
        return events, bad
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                events.append(parse_event(json.loads(line)))
            except (ValueError, ValidationError):
                bad += 1
    return events, bad


class Journal:
    """Append-only event log: `events` holds those read back at opening and those written since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events, self.torn_lines = read_events(path)
        self._lock = threading.Lock()  # session events may come from backend threads
        self._file = open_append(path)

    def write(self, event: E) -> E:
        """Append `event`, stamped with the time, and flush it to disk before returning it."""
        stamped = event.model_copy(update={"time": round(time.time(), 3)})
        line = json.dumps(event_line(stamped), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self.events.append(stamped)
        return stamped

    def of_kind(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

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
