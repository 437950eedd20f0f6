"""What a running search shows: log lines (always also written to `run.log` in the run directory) and,
on a terminal unless quiet, a live rich display of the budget, best accuracy, front size and rate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from spl_opt.search.budget import Budget


@dataclass(frozen=True)
class Snapshot:
    """The search's state at one moment."""

    rollouts: int
    best_accuracy: float
    front_size: int
    iterations: int
    failed_calls: int = 0


def _eta(budget: Budget, snap: Snapshot, elapsed: float, rate: float) -> float | None:
    left = []
    if budget.max_rollouts and rate > 0:
        left.append(max(0.0, budget.max_rollouts - snap.rollouts) / rate)
    if budget.max_wall_seconds:
        left.append(max(0.0, budget.max_wall_seconds - elapsed))
    return min(left) if left else None


def describe(budget: Budget, snap: Snapshot, elapsed: float, start_rollouts: int) -> str:
    """One line: rollouts used of budget, best validation accuracy, front size, evaluations/s, time left."""
    rate = (snap.rollouts - start_rollouts) / elapsed if elapsed > 0 else 0.0
    of = f"/{budget.max_rollouts}" if budget.max_rollouts else ""
    eta = _eta(budget, snap, elapsed, rate)
    left = f"~{eta / 60:.1f} min left" if eta is not None else "time left unknown"
    failed = f" | {snap.failed_calls} failed calls" if snap.failed_calls else ""
    return (
        f"rollouts {snap.rollouts}{of} | best val acc {snap.best_accuracy:.3f} | front {snap.front_size} | "
        f"iteration {snap.iterations} | {rate:.2f} evals/s | {left}{failed}"
    )


class Reporter:
    """Log lines to `run.log` and the console; a live status line on a terminal unless `quiet`."""

    def __init__(
        self, run_dir: Path | None, budget: Budget, *, quiet: bool = False, echo: bool = True
    ) -> None:
        self.budget = budget
        self.echo = echo
        self._file: TextIO | None = None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._file = (run_dir / "run.log").open("a", encoding="utf-8")
        self._start = time.monotonic()
        self._start_rollouts: int | None = None
        self._live: Any = None
        if echo and not quiet:
            from rich.console import Console

            console = Console()
            if console.is_terminal:
                from rich.live import Live

                self._live = Live("starting...", console=console, refresh_per_second=4, transient=True)
                self._live.start()

    def line(self, text: str) -> None:
        if self._file is not None:
            self._file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
            self._file.flush()
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        elif self.echo:
            print(text, flush=True)

    def update(self, snap: Snapshot) -> None:
        if self._start_rollouts is None:
            self._start_rollouts = (
                snap.rollouts
            )  # a resumed run's replayed rollouts are not this session's rate
            self._start = time.monotonic()
        status = describe(self.budget, snap, time.monotonic() - self._start, self._start_rollouts)
        if self._live is not None:
            self._live.update(status)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._file is not None:
            self._file.close()
            self._file = None
