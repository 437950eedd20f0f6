"""Search budget: when to stop. `None` on a limit means unlimited."""

from __future__ import annotations

from pydantic import Field

from spl_opt.core.records import Record


class Budget(Record):
    """Limits on a search; each set limit must be positive.

    `patience` is the number of iterations without a new best validation accuracy before stopping.
    """

    max_rollouts: int | None = Field(default=None, gt=0)
    max_iterations: int | None = Field(default=None, gt=0)
    max_wall_seconds: float | None = Field(default=None, gt=0)
    patience: int | None = Field(default=None, gt=0)


def exhausted(
    budget: Budget,
    *,
    rollouts: int = 0,
    iterations: int = 0,
    elapsed: float = 0.0,
    since_improvement: int = 0,
) -> str | None:
    """The reason to stop (first limit reached, in field order), or None to go on."""
    if budget.max_rollouts is not None and rollouts >= budget.max_rollouts:
        return f"rollout budget spent ({rollouts}/{budget.max_rollouts})"
    if budget.max_iterations is not None and iterations >= budget.max_iterations:
        return f"iteration budget spent ({iterations}/{budget.max_iterations})"
    if budget.max_wall_seconds is not None and elapsed >= budget.max_wall_seconds:
        return f"time budget spent ({elapsed:.1f}s/{budget.max_wall_seconds:g}s)"
    if budget.patience is not None and since_improvement >= budget.patience:
        return f"no new best accuracy in {since_improvement} iterations (patience {budget.patience})"
    return None
