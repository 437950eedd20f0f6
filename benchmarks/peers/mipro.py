"""dspy.MIPROv2 held to a rollout budget.

MIPROv2 has no rollout budget: `BudgetedMIPRO` (dspy 3.4.1's MIPROv2 with three hooks) caps its demo
bootstrapping (used zero-shot only to ground the instruction proposals) at a quarter of the budget,
sizes the number of trials to the rollouts left when the trials start, and skips any evaluation that
would pass the budget or the wall-clock cap (a skipped evaluation scores 0 and calls no LM), so MIPRO
never overshoots. It runs zero-shot (no demos, 0 bootstrapped and 0 labeled): only the instructions
are learned.
"""

from __future__ import annotations

import time
from typing import Any

import dspy

from benchmarks.peers.metering import Usage
from benchmarks.peers.program import SharedMetric, SystemPromptProgram, program_prompt, to_dspy
from benchmarks.peers.spec import Outcome, RunSpec, best_so_far

MIPRO_BOOTSTRAP_SHARE = 0.25
MIPRO_MIN_MINIBATCH_VAL = 50  # MIPROv2's own rule (MIN_MINIBATCH_SIZE): minibatch trials only above this


def mipro_trial_calls(
    num_trials: int, val_size: int, minibatch: bool, minibatch_size: int, full_eval_steps: int
) -> int:
    """Task-LM calls of MIPROv2's trial phase (dspy 3.4.1 `_optimize_prompt_parameters`): the default
    program's full evaluation, then per trial a minibatch (or full) evaluation, plus the periodic full
    evaluations of the minibatch mode (simulated with Optuna's trial numbering, which counts the
    full evaluations MIPRO adds as trials)."""
    calls = val_size
    if not minibatch:
        return calls + num_trials * val_size
    extra = 1 if num_trials % full_eval_steps else 0
    adjusted = num_trials + num_trials // full_eval_steps + 1 + extra
    number = 1  # the default program is trial 0
    for _ in range(num_trials):
        trial_num = number + 1
        number += 1
        calls += minibatch_size
        if trial_num % (full_eval_steps + 1) == 0 or trial_num == adjusted - 1:
            calls += val_size
            number += 1
    return calls


def fit_mipro_trials(
    remaining: int, val_size: int, minibatch: bool, minibatch_size: int, full_eval_steps: int
) -> int:
    """The most trials whose calls (`mipro_trial_calls`) fit in `remaining`; 0 if not even one does."""
    trials = 0
    while mipro_trial_calls(trials + 1, val_size, minibatch, minibatch_size, full_eval_steps) <= remaining:
        trials += 1
    return trials


class _GuardedEvaluate:
    """Wraps MIPRO's Evaluate: skips (score 0, no LM call) an evaluation that would pass the rollout
    budget or start after the deadline, and records full validation scores against the counter."""

    def __init__(self, inner: Any, usage: Usage, budget: int, deadline: float, val_size: int) -> None:
        self.inner = inner
        self.usage = usage
        self.budget = budget
        self.deadline = deadline
        self.val_size = val_size
        self.points: list[tuple[int, float]] = []
        self.skipped = 0

    def __call__(self, program: Any, devset: Any = None, **kwargs: Any) -> Any:
        n = len(devset)
        if self.usage.calls + n > self.budget or time.monotonic() > self.deadline:
            self.skipped += 1
            return dspy.Prediction(score=0.0, results=[])
        result = self.inner(program, devset=devset, **kwargs)
        if n >= self.val_size:
            self.points.append((self.usage.calls, float(result.score) / 100.0))
        return result


class BudgetedMIPRO(dspy.MIPROv2):
    """dspy 3.4.1's MIPROv2, held to a rollout budget (see the module docstring)."""

    def __init__(self, *, rollout_budget: int, usage: Usage, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rollout_budget = rollout_budget
        self.usage = usage
        self.deadline = deadline
        self.guard: _GuardedEvaluate | None = None
        self.phase_calls: dict[str, int] = {}
        self.planned_trials = 0

    def _bootstrap_fewshot_examples(
        self, program: Any, trainset: list[Any], seed: int, teacher: Any, **kwargs: Any
    ):
        passes = max(1, kwargs["num_fewshot_candidates"] - 1)  # the zero-shot set costs nothing
        per_pass = max(1, int(MIPRO_BOOTSTRAP_SHARE * self.rollout_budget) // passes)
        demos = super()._bootstrap_fewshot_examples(program, trainset[:per_pass], seed, teacher, **kwargs)
        self.phase_calls["bootstrap"] = self.usage.calls
        return demos

    def _optimize_prompt_parameters(
        self,
        program: Any,
        instruction_candidates: Any,
        demo_candidates: Any,
        evaluate: Any,
        valset: list[Any],
        num_trials: int,
        minibatch: bool,
        minibatch_size: int,
        minibatch_full_eval_steps: int,
        seed: int,
    ) -> Any:
        self.phase_calls["before_trials"] = self.usage.calls
        remaining = self.rollout_budget - self.usage.calls
        self.planned_trials = fit_mipro_trials(
            remaining, len(valset), minibatch, minibatch_size, minibatch_full_eval_steps
        )
        self.guard = _GuardedEvaluate(evaluate, self.usage, self.rollout_budget, self.deadline, len(valset))
        return super()._optimize_prompt_parameters(
            program,
            instruction_candidates,
            demo_candidates,
            self.guard,
            valset,
            self.planned_trials,
            minibatch,
            minibatch_size,
            minibatch_full_eval_steps,
            seed,
        )

    def _perform_full_evaluation(
        self,
        trial_num: int,
        adjusted_num_trials: int,
        param_score_dict: dict[str, Any],
        fully_evaled_param_combos: dict[str, Any],
        evaluate: Any,
        valset: list[Any],
        trial_logs: dict[Any, Any],
        total_eval_calls: int,
        score_data: Any,
        best_score: float,
        best_program: Any,
        study: Any,
        instruction_candidates: Any,
        demo_candidates: Any,
    ) -> Any:
        try:
            return super()._perform_full_evaluation(
                trial_num,
                adjusted_num_trials,
                param_score_dict,
                fully_evaled_param_combos,
                evaluate,
                valset,
                trial_logs,
                total_eval_calls,
                score_data,
                best_score,
                best_program,
                study,
                instruction_candidates,
                demo_candidates,
            )
        except ValueError:  # every combination tried so far is already fully evaluated: nothing to do
            return best_score, best_program, total_eval_calls


def run_mipro(spec: RunSpec) -> Outcome:
    """dspy.MIPROv2, zero-shot (instructions only), prompt model = the editor, sized to the budget."""
    task = spec.task
    metric = SharedMetric(task)
    program = SystemPromptProgram(list(task.train[0].inputs), task.seed_prompt)
    minibatch = len(task.val) > MIPRO_MIN_MINIBATCH_VAL
    mipro = BudgetedMIPRO(
        rollout_budget=spec.budget,
        usage=spec.task_usage,
        deadline=time.monotonic() + spec.minutes * 60,
        metric=metric.plain,
        prompt_model=spec.editor_lm,
        task_model=spec.task_lm,
        max_bootstrapped_demos=0,
        max_labeled_demos=0,
        auto=None,
        num_candidates=spec.mipro_candidates,
        num_threads=1,
        max_errors=10**9,  # a failed call scores 0, as in spl, rather than aborting the run
        seed=spec.seed,
        init_temperature=spec.editor_temperature,
    )
    with dspy.context(lm=spec.task_lm):
        learned = mipro.compile(
            program,
            trainset=to_dspy(task.train),
            valset=to_dspy(task.val),
            num_trials=1,  # replaced by the budget-sized count when the trials start
            minibatch=minibatch,
            minibatch_size=min(35, len(task.val)),
        )
    guard = mipro.guard
    assert guard is not None
    score = getattr(learned, "score", None)
    evaluated = bool(guard.points)
    return Outcome(
        prompt=program_prompt(learned),
        val_accuracy=float(score) / 100.0 if score is not None and evaluated else None,
        curve=best_so_far(guard.points),
        optimizer_rollouts=None,
        stop_reason=(
            f"{mipro.planned_trials} trials sized to the budget"
            + (f"; {guard.skipped} evaluations skipped (budget or time cap)" if guard.skipped else "")
        ),
        details={
            "planned_trials": mipro.planned_trials,
            "minibatch": minibatch,
            "skipped_evaluations": guard.skipped,
            "calls_after_bootstrap": mipro.phase_calls.get("bootstrap"),
            "calls_before_trials": mipro.phase_calls.get("before_trials"),
            "full_val_scores": [list(p) for p in guard.points],
        },
    )
