"""What every optimizer gets alike (`RunSpec`) and what each returns (`Outcome`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers.metering import Usage
from spl_opt.core.records import TaskData


@dataclass
class RunSpec:
    """What every optimizer gets alike."""

    task: TaskData
    budget: int
    minutes: float
    minibatch: int
    seed: int
    task_lm: Any  # counted dspy.LM
    editor_lm: Any  # counted dspy.LM (None for "seed")
    task_usage: Usage
    editor_usage: Usage
    editor_temperature: float
    runs_dir: Path
    mipro_candidates: int = 6
    echo: bool = True
    program: str = "chat"  # the program optimized: "chat" (one call) or "two-step" (extract, then answer)


@dataclass
class Outcome:
    """What an optimizer returns: the chosen prompt, its validation accuracy, and the search curve of
    (task-LM calls so far, best validation accuracy so far)."""

    prompt: str
    val_accuracy: float | None
    curve: list[tuple[int, float]]
    optimizer_rollouts: int | None
    stop_reason: str
    details: dict[str, Any] = field(default_factory=dict)


def best_so_far(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Running maximum of (rollouts, accuracy) points, in rollout order, one point per improvement."""
    curve: list[tuple[int, float]] = []
    for rollouts, acc in sorted(points, key=lambda p: p[0]):
        if not curve or acc > curve[-1][1]:
            curve.append((rollouts, acc))
    return curve
