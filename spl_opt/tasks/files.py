"""Loading task examples from user data files (BBH-style JSON, JSONL); errors name file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spl_opt.core.errors import DataError
from spl_opt.core.records import Example

_INPUT_FIELDS = ("input", "question")
_TARGET_FIELDS = ("target", "answer")
_GSM8K_MARK = "#### "


def load_examples(path: Path) -> list[Example]:
    """The examples in a `.json` file ({"examples": [...]} or a list) or a `.jsonl` file (one object
    per line, blank lines skipped).

    Rows have `input`/`target` or `question`/`answer`; an answer containing "#### " (GSM8K) has its
    target after the last "#### " (commas removed) and the full text in meta["solution"]. Ids are
    "<file stem>-<index>". Raises DataError naming the file and line (or example index).
    """
    text = _read(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = list(_jsonl_rows(path, text))
    elif suffix == ".json":
        rows = list(_json_rows(path, text))
    else:
        raise DataError(f"{path}: unsupported file type '{path.suffix}' (use .json or .jsonl)")
    if not rows:
        raise DataError(f"{path}: no examples")
    return [_example(f"{path.stem}-{i}", row, where) for i, (where, row) in enumerate(rows)]


def _read(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {lineno}: invalid JSON ({exc.msg})") from exc
        yield f"{path} line {lineno}", row


def _json_rows(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of examples or an object with an 'examples' list")
    for index, row in enumerate(data):
        yield f"{path} example {index}", row


def _field(row: dict[str, Any], names: tuple[str, ...], where: str) -> tuple[str, str]:
    """The first of `names` present in `row`, and its value as a string."""
    for name in names:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, str | int | float | bool):
            return name, str(value)
        raise DataError(f"{where}: field '{name}' must be a string or a number")
    wanted = "'/'".join(names)
    raise DataError(f"{where}: row has no '{wanted}' field")


def _example(example_id: str, row: Any, where: str) -> Example:
    if not isinstance(row, dict):
        raise DataError(f"{where}: row is not a JSON object")
    input_name, input_text = _field(row, _INPUT_FIELDS, where)
    _, target = _field(row, _TARGET_FIELDS, where)
    meta: dict[str, Any] = {}
    if _GSM8K_MARK in target:
        meta["solution"] = target
        target = target.rsplit(_GSM8K_MARK, 1)[1].strip().replace(",", "")
    return Example(id=example_id, inputs={input_name: input_text}, target=target, meta=meta)
