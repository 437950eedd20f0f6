"""Turning a task spec ("letters", "gsm8k", "bbh:<name>", or a data file) into split TaskData.

The data directory, when not given, is `default_data_dir()`: the environment variable
SPL_OPT_DATA_DIR if set, else the copy that ships with the package (`spl_opt/data`: BIG-Bench Hard
and GSM8K, MIT licensed, with their LICENSE files), so built-in tasks work from any directory.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from spl_opt.core.errors import ConfigError, DataError
from spl_opt.core.records import Example, TaskData
from spl_opt.tasks.files import load_examples
from spl_opt.tasks.letters import generate_letters

DATA_DIR_ENV = "SPL_OPT_DATA_DIR"
SEED_PROMPT = "You are a helpful assistant."
_NUMERIC_TASKS = ("letters", "gsm8k")
_NUMBER = re.compile(r"\s*-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*")


PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


def default_data_dir() -> Path | None:
    """$SPL_OPT_DATA_DIR if set, else the data shipped in the package (None if it is missing)."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env)
    return PACKAGE_DATA if PACKAGE_DATA.is_dir() else None


def available_bbh_tasks(data_dir: Path | None = None) -> list[str]:
    """Sorted names of the BBH tasks in `<data_dir>/bbh` (default_data_dir() if None); [] if none."""
    root = data_dir if data_dir is not None else default_data_dir()
    if root is None or not (root / "bbh").is_dir():
        return []
    return sorted(p.stem for p in (root / "bbh").glob("*.json"))


def resolve_task(
    spec: str,
    *,
    data_dir: Path | None = None,
    data_file: Path | None = None,
    n_train: int = 30,
    n_val: int = 30,
    n_test: int = 50,
    seed: int = 0,
) -> TaskData:
    """The task named by `spec`, shuffled with `seed` and split into disjoint train/val/test.

    Specs: "letters" (generated), "gsm8k" (<data_dir>/gsm8k/train.jsonl), "bbh:<name>"
    (<data_dir>/bbh/<name>.json); with `data_file`, any spec is just the name of the task in that
    file. A file smaller than requested is split proportionally, at least 1 example per split.
    The metric is "numeric" for letters, gsm8k, and data whose targets are all numbers, else "exact".
    Raises DataError for unknown tasks or unusable data, ConfigError for split sizes below 1.
    """
    sizes = (n_train, n_val, n_test)
    for label, size in zip(("n_train", "n_val", "n_test"), sizes, strict=True):
        if size < 1:
            raise ConfigError(f"{label} must be at least 1, got {size}")
    name = spec.strip()
    if data_file is not None:
        examples = load_examples(data_file)
        name = name or data_file.stem
    elif name == "letters":
        examples = generate_letters(sum(sizes), seed)
    else:
        examples = load_examples(_task_file(name, data_dir))
    train, val, test = split_examples(examples, sizes, seed, source=name)
    return TaskData(
        name=name,
        train=tuple(train),
        val=tuple(val),
        test=tuple(test),
        metric=_metric(name if data_file is None else "", examples),
        seed_prompt=SEED_PROMPT,
    )


def _task_file(name: str, data_dir: Path | None) -> Path:
    """The data file of a built-in task spec ("gsm8k" or "bbh:<name>")."""
    if name != "gsm8k" and not name.startswith("bbh:"):
        raise DataError(_unknown(name, data_dir))
    root = data_dir if data_dir is not None else default_data_dir()
    if root is None:
        raise DataError(f"no data directory for task '{name}': set {DATA_DIR_ENV} or pass a data dir")
    if name == "gsm8k":
        return root / "gsm8k" / "train.jsonl"
    path = root / "bbh" / f"{name.removeprefix('bbh:')}.json"
    if not path.is_file():
        raise DataError(_unknown(name, root))
    return path


def _unknown(name: str, data_dir: Path | None) -> str:
    names = available_bbh_tasks(data_dir)
    listed = ", ".join(names) if names else "none found (no data directory)"
    return (
        f"unknown task '{name}': use 'letters', 'gsm8k', 'bbh:<name>', or any name with a data file; "
        f"bbh tasks: {listed}"
    )


def split_examples(
    examples: Sequence[Example], sizes: tuple[int, int, int], seed: int, *, source: str = "task"
) -> tuple[list[Example], list[Example], list[Example]]:
    """Shuffle with random.Random(seed) and cut into three disjoint lists of the given sizes.

    With fewer examples than requested, the sizes shrink proportionally (all examples are used,
    at least 1 per split); fewer than 3 examples is a DataError.
    """
    if len(examples) < 3:
        raise DataError(f"{source}: needs at least 3 examples for train/val/test, got {len(examples)}")
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    a, b, c = _shrink(sizes, len(shuffled))
    return shuffled[:a], shuffled[a : a + b], shuffled[a + b : a + b + c]


def _shrink(sizes: tuple[int, int, int], available: int) -> tuple[int, int, int]:
    """`sizes` if they fit in `available`, else proportional sizes summing to `available` (each >= 1)."""
    total = sum(sizes)
    if total <= available:
        return sizes
    quotas = [s * available / total for s in sizes]
    out = [max(1, math.floor(q)) for q in quotas]
    while sum(out) > available:
        out[out.index(max(out))] -= 1
    while sum(out) < available:
        i = max(range(3), key=lambda j: (quotas[j] - out[j], -j))
        out[i] += 1
    return out[0], out[1], out[2]


def _metric(name: str, examples: Sequence[Example]) -> Literal["exact", "numeric"]:
    if name in _NUMERIC_TASKS or all(_NUMBER.fullmatch(e.target) for e in examples):
        return "numeric"
    return "exact"
