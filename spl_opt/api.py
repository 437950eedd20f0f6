"""The Python API: optimize the system prompt (instructions) of a DSPy program, or of a plain LM call."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spl_opt.config import RunConfig, SearchConfig
from spl_opt.core.protocols import Program, ProgramOutput, Scorer
from spl_opt.core.records import Candidate, Example, Playbook, TaskData
from spl_opt.engine.result import RunReport, SearchResult
from spl_opt.lm.config import LMConfig
from spl_opt.search.budget import Budget

Metric = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class OptimizeResult:
    """What `optimize` returns: the best candidate, the Pareto front, the history, and the program
    with the learned prompt applied (a DSPy module, or None for a plain LM call)."""

    best: Candidate
    search: SearchResult
    report: RunReport
    program: Any
    run_dir: Path | None  # None when no `run_dir` was given: the run's files were temporary

    @property
    def prompt(self) -> str:
        return self.best.prompt

    @property
    def front(self) -> tuple[Any, ...]:
        return self.search.front

    @property
    def history(self) -> tuple[tuple[int, float], ...]:
        return self.search.history


def resolve_lm(lm: Any) -> Any:
    """A `dspy.LM` from an LM, an LMConfig, a model string (`embedded:<name>` or any dspy.LM model), or
    None (DSPy's configured LM, else the embedded default)."""
    import dspy

    from spl_opt.lm.config import build_lm

    if lm is None:
        lm = dspy.settings.lm or LMConfig()
    if isinstance(lm, str):
        lm = LMConfig(model=lm)
    return build_lm(lm) if isinstance(lm, LMConfig) else lm


def _to_example(row: Any, index: int, split: str) -> tuple[Example, Any]:
    if isinstance(row, Example):
        return row, row
    inputs = {k: str(row[k]) for k in row.inputs()}  # a dspy.Example with inputs marked
    labels = row.labels()
    target = str(next(iter(labels.values()))) if len(labels) else ""
    return Example(id=f"{split}-{index}", inputs=inputs, target=target), row


def _score(value: Any) -> tuple[float, str]:
    """Read a metric's return: a number, a bool, (score, feedback), or an object/dict with score, feedback."""
    if isinstance(value, tuple):
        return float(value[0]), str(value[1]) if len(value) > 1 else ""
    if isinstance(value, dict):
        return float(value.get("score", 0.0)), str(value.get("feedback", ""))
    if hasattr(value, "score"):
        return float(value.score), str(getattr(value, "feedback", "") or "")
    return float(value), ""


def optimize(
    program: Any = None,
    *,
    trainset: Sequence[Any],
    valset: Sequence[Any],
    metric: Metric,
    testset: Sequence[Any] = (),
    lm: Any = None,
    editor_lm: Any = None,
    editor: str | Path | None = None,
    seed_prompt: str | None = None,
    budget: Budget | int = 200,
    search: SearchConfig | None = None,
    run_dir: str | Path | None = None,
    seed: int = 0,
    verbose: bool = False,
) -> OptimizeResult:
    """Learn a system prompt for `program` from evidence.

    `program` is a DSPy module (its instructions are learned; with several predictors, one playbook
    per predictor), a factory of one as `"module:function"` (then `spl-opt export --format dspy`
    rebuilds it), an object following the Program protocol, or None for a plain LM call (system
    prompt + the example's input as the user message).
    `metric(example, prediction)` returns a score in [0, 1], optionally with feedback text (a tuple,
    or an object or dict with `score` and `feedback`). Rerunning with the same `run_dir` resumes;
    without `run_dir` the run works in a temporary directory, removed when it returns.
    `verbose` prints progress lines; they are always written to `run.log` in the run directory.
    `editor` is a tuned editor's directory (`spl-opt tune-editor`): the LM operator runs its program
    and the operator policy starts from its priors.
    """
    from spl_opt.programs import ChatProgram, DSPyProgram, apply_prompt, build_program, seed_playbook

    factory = program if isinstance(program, str) else None
    if factory is not None:
        program = build_program(factory)
    task_lm = resolve_lm(lm)
    edit_lm = resolve_lm(editor_lm) if editor_lm is not None else task_lm
    splits = {
        name: [_to_example(r, i, name) for i, r in enumerate(rows)]
        for name, rows in (("train", trainset), ("val", valset), ("test", testset))
    }
    originals = {ex.id: orig for pairs in splits.values() for ex, orig in pairs}
    task = TaskData(name="api", **{k: tuple(ex for ex, _ in v) for k, v in splits.items()})

    runnable: Program
    if program is None:
        runnable, seed_pb = (
            ChatProgram(task_lm),
            Playbook(preamble=seed_prompt or "You are a helpful assistant."),
        )
    elif hasattr(program, "named_predictors"):
        runnable, seed_pb = DSPyProgram(program, task_lm), seed_playbook(program)
        if seed_prompt:
            seed_pb = Playbook(preamble=seed_prompt)
    else:
        runnable, seed_pb = program, Playbook(preamble=seed_prompt or "")

    def scorer(example: Example, output: ProgramOutput) -> tuple[float, str]:
        value = output.value if program is not None else output.text
        return _score(metric(originals[example.id], value))

    budget = Budget(max_rollouts=budget) if isinstance(budget, int) else budget
    config = RunConfig(
        seed=seed,
        budget=budget,
        search=search or SearchConfig(),
        editor=str(editor) if editor is not None else None,
        program=factory,
    )
    with contextlib.ExitStack() as stack:
        directory = (
            Path(run_dir)
            if run_dir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="spl-opt-")))
        )
        report = _execute(task, runnable, scorer, seed_pb, edit_lm, config, directory, verbose)
    best = report.search.best.candidate
    learned = apply_prompt(program, best.prompt) if hasattr(program, "named_predictors") else None
    return OptimizeResult(
        best=best,
        search=report.search,
        report=report,
        program=learned,
        run_dir=Path(run_dir) if run_dir is not None else None,
    )


def _execute(
    task: TaskData,
    runnable: Program,
    scorer: Scorer,
    seed_pb: Playbook,
    edit_lm: Any,
    config: RunConfig,
    directory: Path,
    verbose: bool,
) -> RunReport:
    from spl_opt.engine.progress import Reporter
    from spl_opt.engine.runner import default_operators, execute

    tuned = None
    if config.editor:
        from spl_opt.editor.artifact import editor_dir, load_editor_module

        tuned = load_editor_module(editor_dir(config.editor))
    return execute(
        task=task,
        program=runnable,
        scorer=scorer,
        seed_playbook=seed_pb,
        operators=default_operators(edit_lm, task.train, tuned),
        config=config,
        run_dir=directory,
        reporter=Reporter(directory, config.budget, quiet=True, echo=verbose),
    )
