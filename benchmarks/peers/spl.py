"""spl-opt through its public API, as a user would call it: `spl_opt.optimize` on a plain LM call (the
system prompt + the example's input) or on the two-step program (one playbook per step), the task
scorer as the metric, the default operators and
Pareto selection. spl checks the budget before each iteration, so it may finish the iteration in
flight (minibatch screens plus one validation pass) and overshoot by about one iteration."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.peers.program import TWO_STEP
from benchmarks.peers.spec import Outcome, RunSpec, best_so_far
from spl_opt.config import SearchConfig
from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example
from spl_opt.engine.runner import task_scorer
from spl_opt.search.budget import Budget


def run_spl(spec: RunSpec) -> Outcome:
    """spl-opt's search on the plain chat call; test is left to the harness."""
    import spl_opt

    task = spec.task
    scorer = task_scorer(task)
    two_step = spec.program == "two-step"

    def metric(example: Example, reply: Any) -> tuple[float, str]:
        text = str(getattr(reply, "answer", "") or "") if two_step else reply
        scored = scorer(example, ProgramOutput(value=text, text=text))
        return scored[0], scored[1]

    run_dir = spec.runs_dir / f"spl-{time.strftime('%Y%m%d-%H%M%S')}"
    result = spl_opt.optimize(
        TWO_STEP if two_step else None,
        trainset=task.train,
        valset=task.val,  # no testset: the harness evaluates test itself, for all optimizers alike
        metric=metric,
        lm=spec.task_lm,
        editor_lm=spec.editor_lm,
        seed_prompt=None if two_step else task.seed_prompt,
        budget=Budget(max_rollouts=spec.budget, max_wall_seconds=spec.minutes * 60),
        search=SearchConfig(minibatch_size=spec.minibatch),
        run_dir=run_dir,
        seed=spec.seed,
        verbose=spec.echo,
    )
    search = result.search
    return Outcome(
        prompt=result.prompt,
        val_accuracy=search.best.evaluation.objectives.accuracy,
        curve=best_so_far([(int(r), float(a)) for r, a in search.history]),
        optimizer_rollouts=search.rollouts,
        stop_reason=search.stop_reason,
        details={
            "run_dir": str(run_dir),
            "iterations": search.iterations,
            "members": len(search.members),
            "front_size": len(search.front),
            "operator_stats": {k: list(v) for k, v in search.operator_stats.items()},
            "choice": search.choice.model_dump(mode="json") if search.choice is not None else None,
            "population": [_member(m) for m in search.members],
        },
    )


def _member(member: Any) -> dict[str, Any]:
    return {
        "val_accuracy": member.evaluation.objectives.accuracy,
        "prompt": member.candidate.prompt,
        "operator": member.candidate.operator,
    }
