"""The evaluation cache: one result per (prompt hash, example id, program/LM namespace), never computed twice.

Backed by an append-only JSONL file when given a path: each result is written and flushed as soon as
it exists, so a run killed mid-evaluation keeps every finished example. A torn last line (the kill
came mid-write) is skipped on load.
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
                    if row.get("discard"):
                        self._data.pop(key, None)
                    else:
                        self._data[key] = ExampleResult.model_validate(row["result"])
                except (ValueError, KeyError, TypeError, IndexError):
                    self.skipped_lines += 1

    def discard(self, keys: list[CacheKey]) -> None:
        """Forget results (e.g. failures of an LM that was down before anything used them)."""
        with self._lock:
            for key in keys:
                if self._data.pop(key, None) is not None and self._file is not None:
                    self._file.write(f'{{"key":{json.dumps(list(key))},"discard":true}}\n')
            if self._file is not None:
                self._file.flush()

    def get(self, key: CacheKey) -> ExampleResult | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: CacheKey, result: ExampleResult) -> None:
        with self._lock:
            self._data[key] = result
            if self._file is not None:
                self._file.write(f'{{"key":{json.dumps(list(key))},"result":{dumps(result)}}}\n')
                self._file.flush()
                os.fsync(self._file.fileno())

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
