"""The optimizers the peers benchmark compares, on one shared program, metric and rollout counter.

Every optimizer learns the *system prompt* of the same program, a single plain chat call:

    system = the candidate prompt, user = the example's input (`Example.input_text()`),
    the free-text reply is scored by `spl_opt.engine.runner.task_scorer` (the final answer read
    from the text: numeric or normalized exact match).

- spl runs `spl_opt.engine.runner.execute` with `spl_opt.programs.ChatProgram`, i.e. that call.
- GEPA and MIPROv2 optimize `SystemPromptProgram`, a `dspy.Module` with one `dspy.Predict` whose
  signature instructions are the system prompt; it runs under `PlainChatAdapter`, which sends the
  instructions as the system message and the input as the user message (no DSPy field markup) and
  takes the whole reply as the answer. The request that reaches the engine is the same object, field
  for field, as ChatProgram's (a unit test checks this), so the learned instructions of any optimizer
  are a system prompt for ChatProgram, and the harness scores every prompt on test the same way.
- MIPROv2 runs zero-shot (no demos, 0 bootstrapped and 0 labeled): only the instructions are learned.

Rollouts: each optimizer's task LM is a `dspy.LM` over `CountingEngine`, which counts every request
that reaches the model (one task-LM call = one rollout) before passing it on. DSPy's cache is off on
these LMs (`cache=False`) and the engine sits below it anyway, so nothing is served from a cache
unseen; spl's own evaluation cache only avoids asking the model twice for the same (prompt, example),
and what it avoids is not a call. The editor / reflection LM is counted the same way, separately.

Budgets: spl gets `Budget(max_rollouts=B)`, GEPA `max_metric_calls=B` (one metric call = one program
run = one task-LM call here); both check the budget before each iteration, so each may finish the
iteration in flight and overshoot by about one iteration (spl: minibatch screens plus one validation
pass; GEPA: two minibatches plus one validation pass). MIPROv2 has no rollout budget: `BudgetedMIPRO`
(dspy 3.4.1's MIPROv2 with three hooks) caps its demo bootstrapping (used zero-shot only to ground
the instruction proposals) at a quarter of the budget, sizes the number of trials to the rollouts
left when the trials start, and skips any evaluation that would pass the budget or the wall-clock
cap (a skipped evaluation scores 0 and calls no LM), so MIPRO never overshoots. Every number the
report shows is the counter's, not the optimizer's own count (also recorded).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy
from dspy.adapters.base import Adapter

from spl_opt.config import RunConfig, SearchConfig
from spl_opt.core.protocols import ProgramOutput, Scorer
from spl_opt.core.records import Example, Playbook, TaskData
from spl_opt.engine.progress import Reporter
from spl_opt.engine.runner import default_operators, execute, task_scorer
from spl_opt.lm.config import LMConfig
from spl_opt.programs import ChatProgram
from spl_opt.search.budget import Budget

ANSWER = "answer"
MIPRO_BOOTSTRAP_SHARE = 0.25
MIPRO_MIN_MINIBATCH_VAL = 50  # MIPROv2's own rule (MIN_MINIBATCH_SIZE): minibatch trials only above this


# --------------------------------------------------------------------------------------------------
# Counting LM calls
# --------------------------------------------------------------------------------------------------


@dataclass
class Usage:
    """LM calls of one role, counted at the engine: every call made (failed ones too), tokens, seconds."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def started(self) -> None:
        with self._lock:
            self.calls += 1

    def finished(
        self, input_tokens: int, output_tokens: int, seconds: float, *, failed: bool = False
    ) -> None:
        with self._lock:
            self.errors += failed
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.seconds += seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": round(self.seconds, 2),
        }


class CountingEngine:
    """A `dspy.LM` engine that counts each request into `usage` before passing it to `inner`.

    Copies of the LM (DSPy deep-copies modules and LMs) keep counting into the same `usage`.
    """

    def __init__(self, inner: Any, usage: Usage) -> None:
        self.inner = inner
        self.usage = usage

    def complete(self, request: Any) -> Any:
        self.usage.started()
        start = time.monotonic()
        try:
            response = self.inner.complete(request)
        except BaseException:
            self.usage.finished(0, 0, time.monotonic() - start, failed=True)
            raise
        usage = response.usage
        self.usage.finished(
            (usage.input_tokens or 0) if usage else 0,
            (usage.output_tokens or 0) if usage else 0,
            time.monotonic() - start,
        )
        return response

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:
        pass

    def __deepcopy__(self, memo: dict[int, Any]) -> CountingEngine:
        return self


def dspy_model_name(config: LMConfig) -> str:
    """The model string `spl_opt.lm.config.build_lm` gives the dspy.LM (embedded:x -> embedded/x)."""
    return config.model.replace(":", "/", 1) if config.is_embedded else config.model


def counted_lm(engine: Any, config: LMConfig, usage: Usage) -> Any:
    """A `dspy.LM` over `engine` with the sampling settings of `config`, counting into `usage`."""
    return dspy.LM(
        dspy_model_name(config),
        engine=CountingEngine(engine, usage),
        cache=False,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
    )


# --------------------------------------------------------------------------------------------------
# The shared program and metric
# --------------------------------------------------------------------------------------------------


def _input_text(names: Sequence[str], inputs: dict[str, Any]) -> str:
    return Example(id="", inputs={k: str(inputs[k]) for k in names}, target="").input_text()


class PlainChatAdapter(Adapter):
    """Formats a single-output signature as ChatProgram's call: the instructions as the system message,
    the inputs as the user message (the single field's value, or `name: value` lines), and parses the
    whole reply, empty or not, as the output field. Demos (none in this benchmark) become turns."""

    def format(
        self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        names = list(signature.input_fields)
        (output,) = signature.output_fields
        messages: list[dict[str, Any]] = []
        if signature.instructions:
            messages.append({"role": "system", "content": signature.instructions})
        for demo in demos:
            messages.append({"role": "user", "content": _input_text(names, demo)})
            messages.append({"role": "assistant", "content": str(demo.get(output, ""))})
        messages.append({"role": "user", "content": _input_text(names, inputs)})
        return messages

    def parse(self, signature: Any, completion: str) -> dict[str, Any]:
        (output,) = signature.output_fields
        return {output: completion}

    def _call_postprocess(
        self, processed_signature: Any, original_signature: Any, outputs: list[Any], lm: Any, lm_kwargs: Any
    ) -> list[dict[str, Any]]:
        texts = [(o.get("text") if isinstance(o, dict) else o) or "" for o in outputs]
        return [self.parse(original_signature, text) for text in texts]


PLAIN_CHAT = PlainChatAdapter()


class SystemPromptProgram(dspy.Module):
    """One plain chat call whose system prompt is the single predictor's instructions."""

    def __init__(self, input_fields: Sequence[str], instructions: str) -> None:
        super().__init__()
        fields: dict[str, Any] = {name: dspy.InputField() for name in input_fields}
        fields[ANSWER] = dspy.OutputField()
        self.predict = dspy.Predict(dspy.Signature(fields, instructions))

    def forward(self, **inputs: Any) -> Any:
        with dspy.context(adapter=PLAIN_CHAT):
            return self.predict(**inputs)


def program_prompt(program: Any) -> str:
    """The learned system prompt of a SystemPromptProgram; refuses a program that gained demos."""
    (predictor,) = program.predictors()
    if predictor.demos:
        raise RuntimeError("the learned program has demos: it is no longer a system-prompt-only program")
    return str(predictor.signature.instructions)


def _key(inputs: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in inputs.items()))


def to_dspy(examples: Sequence[Example]) -> list[Any]:
    """dspy.Examples with the task's input fields marked as inputs and the target as `answer`."""
    return [dspy.Example(**ex.inputs, **{ANSWER: ex.target}).with_inputs(*ex.inputs) for ex in examples]


class SharedMetric:
    """The task scorer over a prediction's free-text answer, for DSPy optimizers.

    `score(gold, pred)` -> (score, feedback) with the exact scorer spl uses; `gold` is matched to the
    task example by its inputs.
    """

    def __init__(self, task: TaskData) -> None:
        self.scorer: Scorer = task_scorer(task)
        self.examples = {_key(ex.inputs): ex for ex in (*task.train, *task.val, *task.test)}

    def score(self, gold: Any, pred: Any) -> tuple[float, str]:
        example = self.examples[_key(gold.inputs().toDict())]
        text = str(getattr(pred, ANSWER, "") or "") if pred is not None else ""
        scored = self.scorer(example, ProgramOutput(value=text, text=text))
        return scored[0], scored[1]

    def gepa(
        self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
    ) -> Any:
        value, feedback = self.score(gold, pred)
        return dspy.Prediction(score=value, feedback=feedback)

    def plain(self, gold: Any, pred: Any, trace: Any = None) -> float:
        return self.score(gold, pred)[0]


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------


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


def run_spl(spec: RunSpec) -> Outcome:
    """spl-opt's search (default operators, Pareto selection) on ChatProgram; test is left to the harness."""
    task = spec.task.model_copy(update={"test": ()})  # the harness evaluates test itself, for all alike
    budget = Budget(max_rollouts=spec.budget, max_wall_seconds=spec.minutes * 60)
    config = RunConfig(
        task=task.name,
        seed=spec.seed,
        budget=budget,
        search=SearchConfig(minibatch_size=spec.minibatch),
    )
    run_dir = spec.runs_dir / f"spl-{time.strftime('%Y%m%d-%H%M%S')}"
    report = execute(
        task=task,
        program=ChatProgram(spec.task_lm, namespace="peers-chat"),
        scorer=task_scorer(spec.task),
        seed_playbook=Playbook(preamble=task.seed_prompt),
        operators=default_operators(spec.editor_lm, task.train),
        config=config,
        run_dir=run_dir,
        reporter=Reporter(run_dir, budget, quiet=True, echo=spec.echo),
    )
    search = report.search
    return Outcome(
        prompt=search.best.candidate.prompt,
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
            "population": [
                {
                    "val_accuracy": m.evaluation.objectives.accuracy,
                    "prompt": m.candidate.prompt,
                    "operator": m.candidate.operator,
                }
                for m in search.members
            ],
        },
    )


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
    program = SystemPromptProgram(list(task.train[0].inputs), task.seed_prompt)
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
        prompt=program_prompt(learned),
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


def run_seed(spec: RunSpec) -> Outcome:
    """No optimization: the task's seed prompt (the harness measures its validation accuracy)."""
    return Outcome(
        prompt=spec.task.seed_prompt,
        val_accuracy=None,
        curve=[],
        optimizer_rollouts=0,
        stop_reason="no search",
    )


OPTIMIZERS: dict[str, Callable[[RunSpec], Outcome]] = {
    "seed": run_seed,
    "spl": run_spl,
    "gepa": run_gepa,
    "mipro": run_mipro,
}
