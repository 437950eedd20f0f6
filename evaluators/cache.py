"""The evaluation cache: one result per (prompt hash, example id, program/LM namespace), never computed twice.

Backed by an append-only JSONL file when given a path: each result is written and flushed as soon as
it exists, so a run killed mid-evaluation keeps every finished example. A torn last line (the kill
came mid-write) is skipped on load.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

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
        self._file = path.open("a", encoding="utf-8") if path is not None else None

    def _load(self, path: Path) -> None:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    key = (row["key"][0], row["key"][1], row["key"][2])
                    self._data[key] = ExampleResult.model_validate(row["result"])
                except (ValueError, KeyError, TypeError, IndexError):
                    self.skipped_lines += 1

    def get(self, key: CacheKey) -> ExampleResult | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: CacheKey, result: ExampleResult) -> None:
        with self._lock:
            self._data[key] = result
            if self._file is not None:
                self._file.write(f'{{"key":{json.dumps(list(key))},"result":{dumps(result)}}}\n')
                self._file.flush()

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
