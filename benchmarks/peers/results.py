"""One (task, optimizer) run's result as a typed record, and where results live under `--out`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from spl_opt.core.records import Record

OPTIMIZER_ORDER = ("seed", "spl", "gepa", "mipro")


class TestScore(Record):
    """The chosen prompt on the test split: mean, 95% Wilson interval, and the per-example scores
    (results from before the harness kept them have none)."""

    __test__ = False  # not a pytest class

    accuracy: float
    ci95: tuple[float, float]
    n: int = 0
    scores: list[float] | None = None
    errors: int = 0
    usage: dict[str, int | float] = Field(default_factory=dict)


class PeerRun(Record):
    """One run of the harness. A failed run has `error` and `traceback`, and no test score or prompt.

    Usage counters (`usage`: per role calls, errors, tokens, seconds) and `details` (what the optimizer
    itself reports) stay open dicts: their keys differ between optimizers.
    """

    task: str
    optimizer: str
    data: str = ""
    budget: int = 0
    settings: dict[str, Any] = Field(default_factory=dict)
    split: dict[str, int] = Field(default_factory=dict)
    metric: str = ""
    seeds: dict[str, int] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    command: str = ""
    versions: dict[str, Any] = Field(default_factory=dict)
    started_at: str = ""
    error: str | None = None
    traceback: str | None = None
    test: TestScore | None = None
    val_accuracy: float | None = None
    rollouts: int = 0
    overshoot: int = 0
    optimizer_reported_rollouts: int | None = None
    editor_calls: int = 0
    tokens: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, dict[str, int | float]] = Field(default_factory=dict)
    wall_seconds: dict[str, float] = Field(default_factory=dict)
    prompt: str = ""
    prompt_tokens: int = 0
    seed_prompt: str = ""
    seed_prompt_tokens: int = 0
    # (rollouts so far, best validation accuracy so far), one point per improvement
    curve: list[tuple[int, float]] = Field(default_factory=list)
    stop_reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_json(self) -> str:
        """The run as written to its file: the fields it was given, nothing filled in."""
        return json.dumps(self.model_dump(mode="json", exclude_unset=True), indent=2) + "\n"


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def result_path(out: Path, task_name: str, optimizer: str) -> Path:
    return out / slug(task_name) / f"{optimizer}.json"


def read_result(path: Path) -> PeerRun | None:
    """The run in `path`, or None for a file that is not a readable run result."""
    try:
        return PeerRun.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None


def load_results(out: Path) -> list[PeerRun]:
    """Every run result under `out` (`<task>/<optimizer>.json`), by task, then seed, spl and the peers."""
    runs = [run for path in sorted(out.glob("*/*.json")) if (run := read_result(path)) is not None]
    order = {name: i for i, name in enumerate(OPTIMIZER_ORDER)}
    return sorted(runs, key=lambda r: (r.task, order.get(r.optimizer, 99)))
