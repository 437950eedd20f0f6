"""The evaluation cache: one result per (prompt hash, example id, program/LM namespace), never computed twice.

Backed by an append-only JSONL file when given a path: each result is written and flushed as soon as
it exists, so a run killed mid-evaluation keeps every finished example. A torn last line (the kill
came mid-write) is skipped on load.

A failed call (outcome "error": a timeout, a server error, a dead model process) is no result: it is
kept apart and served only to a replay of work whose result the journal already told
(`get(key, replay=True)`), so a resumed run re-makes the decisions it made, while any new work, and
the final test evaluation, calls the LM again. A later success replaces it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from spl_opt.core.jsonl import open_append
from spl_opt.core.records import ExampleResult, dumps

CacheKey = tuple[str, str, str]


class EvalCache:
    """Thread-safe map from (prompt_id, example_id, namespace) to ExampleResult."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._data: dict[CacheKey, ExampleResult] = {}
        self._errors: dict[CacheKey, ExampleResult] = {}
        self.skipped_lines = 0
        if path is not None and path.exists():
            self._load(path)
        self._file = open_append(path) if path is not None else None

    def _load(self, path: Path) -> None:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    key = (row["key"][0], row["key"][1], row["key"][2])
                    if row.get("discard"):  # written by versions before failed calls were kept apart
                        self._data.pop(key, None)
                    else:
                        self._keep(key, ExampleResult.model_validate(row["result"]))
                except (ValueError, KeyError, TypeError, IndexError):
                    self.skipped_lines += 1

    def _keep(self, key: CacheKey, result: ExampleResult) -> None:
        if result.scored:
            self._data[key] = result
            self._errors.pop(key, None)
        elif key not in self._data:
            self._errors[key] = result

    def get(self, key: CacheKey, *, replay: bool = False) -> ExampleResult | None:
        """The result of `key`; a failed call's record only when `replay` (see the module docstring)."""
        with self._lock:
            found = self._data.get(key)
            return found if found is not None or not replay else self._errors.get(key)

    def put(self, key: CacheKey, result: ExampleResult) -> None:
        with self._lock:
            self._keep(key, result)
            if self._file is not None:
                self._file.write(f'{{"key":{json.dumps(list(key))},"result":{dumps(result)}}}\n')
                self._file.flush()
                os.fsync(self._file.fileno())

    def results(self) -> list[tuple[CacheKey, ExampleResult]]:
        """Every result held, with its key (failed calls not included)."""
        with self._lock:
            return list(self._data.items())

    def __len__(self) -> int:
        """Results held (failed calls not counted)."""
        return len(self._data)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
