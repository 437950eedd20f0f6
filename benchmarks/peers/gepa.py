"""dspy.GEPA on the shared program: `max_metric_calls` = the budget (one metric call = one program run:
one task-LM call for the chat program, two for two-step), the reflection LM = the editor. GEPA checks
the budget before each iteration, so it may finish the iteration in flight (two minibatches plus one
validation pass) and overshoot."""

from __future__ import annotations

from typing import Any

import dspy

from benchmarks.peers.metering import Usage
from benchmarks.peers.program import SharedMetric, learned_prompt, student, to_dspy
from benchmarks.peers.spec import Outcome, RunSpec, best_so_far


class _GEPACurve:
    """GEPA callback: (task-LM calls so far, score) after every full validation evaluation."""

    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.points: list[tuple[int, float]] = []

    def on_valset_evaluated(self, event: Any) -> None:
        if event["num_examples_evaluated"] >= event["total_valset_size"]:
            self.points.append((self.usage.calls, float(event["average_score"])))


def run_gepa(spec: RunSpec) -> Outcome:
    """dspy.GEPA on SystemPromptProgram: `max_metric_calls` = the budget, reflection LM = the editor."""
    from gepa.utils.stop_condition import TimeoutStopCondition

    task = spec.task
    metric = SharedMetric(task)
    curve = _GEPACurve(spec.task_usage)
    program = student(spec.program, task)
    gepa = dspy.GEPA(
        metric=metric.gepa,
        max_metric_calls=spec.budget,
        reflection_lm=spec.editor_lm,
        reflection_minibatch_size=spec.minibatch,
        num_threads=1,
        track_stats=True,
        seed=spec.seed,
        gepa_kwargs={"callbacks": [curve], "stop_callbacks": [TimeoutStopCondition(spec.minutes * 60)]},
    )
    with dspy.context(lm=spec.task_lm):
        learned = gepa.compile(program, trainset=to_dspy(task.train), valset=to_dspy(task.val))
    results = learned.detailed_results
    stopped = "rollout budget" if (results.total_metric_calls or 0) >= spec.budget else "time budget"
    return Outcome(
        prompt=learned_prompt(spec.program, learned),
        val_accuracy=float(results.val_aggregate_scores[results.best_idx]),
        curve=best_so_far(curve.points),
        optimizer_rollouts=results.total_metric_calls,
        stop_reason=stopped,
        details={
            "candidates": len(results.candidates),
            "num_full_val_evals": results.num_full_val_evals,
            "val_aggregate_scores": [float(s) for s in results.val_aggregate_scores],
            "discovery_eval_counts": list(results.discovery_eval_counts),
        },
    )
