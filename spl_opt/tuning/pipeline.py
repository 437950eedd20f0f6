"""`spl-opt tune-editor`: gather edit outcomes on a family of tasks, tune the editor, save it.

Runs given with `runs` are read as they are; every task in `tasks` that none of them covers gets a
search of its own (`budget` rollouts, under `out/runs/`, resumable like any run; `budget=0`: none).
The tasks and their splits are rebuilt from each run's own configuration, so the edits are scored on
the data they were made on. With `samples` > 0 every task in `tasks` also gets that many fresh
rollouts of the untuned editor (`spl_opt.tuning.sampling`), and of each teacher operator named in
`teachers` (operators that need no LM, on the same evidence), appended to `out/samples.jsonl` as they
are measured and not asked again when tuning is resumed.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spl_opt.config import RunConfig, validate_config
from spl_opt.core.errors import ConfigError
from spl_opt.core.protocols import Operator
from spl_opt.core.records import TaskData
from spl_opt.editor.artifact import EditorManifest, save_editor
from spl_opt.engine.journal import read_config
from spl_opt.evaluators.cache import EvalCache
from spl_opt.lm.config import LMConfig, build_lm
from spl_opt.search.budget import Budget
from spl_opt.tuning.outcomes import EditOutcome, read_edits, run_outcomes
from spl_opt.tuning.sampling import EditSampler, sample_outcomes
from spl_opt.tuning.tune import Tuned, tune_editor


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def gather_runs(
    tasks: Sequence[str], runs: Sequence[Path], out: Path, base: RunConfig, budget: int, *, echo: bool
) -> list[Path]:
    """`runs`, plus one fresh (or resumed) search per task in `tasks` that they do not cover."""
    from spl_opt.engine.runner import run_config

    covered = {str(read_config(r).get("task")) for r in runs}
    fresh = []
    for task in tasks:
        if task in covered or budget <= 0:
            continue
        config = base.model_copy(
            update={
                "task": task,
                "budget": Budget(max_rollouts=budget),
                "run_dir": str(out / "runs" / _slug(task)),
                "quiet": True,
            }
        )
        _, run_dir = run_config(config, echo=echo)
        fresh.append(run_dir)
    return [*runs, *fresh]


def tasks_of(run_dirs: Sequence[Path]) -> dict[str, TaskData]:
    """Each run's task with the splits it was run on, by task name."""
    from spl_opt.engine.runner import task_of

    return {(t := task_of(validate_config(read_config(r)))).name: t for r in run_dirs}


SAMPLES = "samples.jsonl"
TEACHERS = ("answer-format", "worked-example")  # the operators that write from a seed playbook's evidence


def teacher_operators(names: Sequence[str]) -> Callable[[TaskData], list[Operator]]:
    """The operators named `names` (of `TEACHERS`) for a task; a one-line error for others."""
    from spl_opt.engine.runner import default_operators

    unknown = sorted(set(names) - set(TEACHERS))
    if unknown:
        raise ConfigError(f"unknown teacher operators {unknown}; known: {', '.join(TEACHERS)}")
    return lambda task: [op for name, op in default_operators(None, task.train).items() if name in names]


def gather_samples(
    tasks: Mapping[str, TaskData],
    path: Path,
    task_lm: Any,
    editor: Operator,
    *,
    teachers: Callable[[TaskData], Sequence[Operator]] = lambda task: (),
    samples: int,
    pool: int,
    minibatch: int,
    seed: int,
    cache: EvalCache,
    echo: bool,
) -> list[EditOutcome]:
    """`samples` measured edits by `editor`, and by each of the task's `teachers`, per task; those
    already in `path` read, the rest appended."""
    done = list(read_edits(path)) if path.is_file() else []
    have = {(o.task, o.iteration, o.operator) for o in done}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for name, task in tasks.items():
            sampler = EditSampler(task, task_lm, pool=pool, minibatch=minibatch, seed=seed, cache=cache)
            for operator in (editor, *teachers(task)):
                todo = [i for i in range(samples) if (name, i, operator.name) not in have]
                for outcome in sample_outcomes([sampler], operator, todo, echo=echo):
                    f.write(outcome.model_dump_json() + "\n")
                    f.flush()
                    done.append(outcome)
    return done


def tune_from_tasks(
    *,
    tasks: Sequence[str],
    runs: Sequence[Path] = (),
    out: Path,
    budget: int = 60,
    task_lm: LMConfig | None = None,
    editor_lm: LMConfig | None = None,
    teacher_lm: LMConfig | None = None,
    demos: int = 4,
    bootstrapped: int = 2,
    instruction_calls: int = 0,
    seed: int = 0,
    n_train: int = 30,
    n_val: int = 30,
    data_dir: str | None = None,
    samples: int = 0,
    teachers: Sequence[str] = (),
    pool: int = 12,
    minibatch: int = 4,
    holdout: float = 0.3,
    echo: bool = True,
) -> tuple[Path, Tuned]:
    """Gather, tune, save under `out`; returns the editor's directory and what was tuned."""
    teacher_ops = teacher_operators(teachers)
    base = RunConfig(
        seed=seed,
        n_train=n_train,
        n_val=n_val,
        n_test=1,  # tuning never looks at test data
        data_dir=data_dir,
        task_lm=task_lm or LMConfig(),
        **({"editor_lm": editor_lm} if editor_lm is not None else {}),
    )
    from spl_opt.editor.dspy_editor import DSPyEditor
    from spl_opt.engine.runner import task_of

    run_dirs = gather_runs(tasks, runs, out, base, budget, echo=echo)
    # an edit of one step of a multi-step program cannot be replayed on a chat call: tuning skips it
    outcomes: list[EditOutcome] = [o for r in run_dirs for o in run_outcomes(r) if not o.step]
    task_data = tasks_of(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    cache = EvalCache(out / "gain-cache.jsonl")
    task_model, editor_model = build_lm(base.task_lm), build_lm(base.editor_lm)
    try:
        if samples > 0:
            fresh = {t: task_data.get(t) or task_of(base.model_copy(update={"task": t})) for t in tasks}
            task_data = {**task_data, **fresh}
            outcomes += gather_samples(
                fresh,
                out / SAMPLES,
                task_model,
                DSPyEditor(editor_model),
                teachers=teacher_ops,
                samples=samples,
                pool=pool,
                minibatch=minibatch,
                seed=seed,
                cache=cache,
                echo=echo,
            )
        tuned = tune_editor(
            outcomes,
            task_data,
            task_model,
            editor_model,
            demos=demos,
            bootstrapped=bootstrapped,
            instruction_calls=instruction_calls,
            seed=seed,
            teacher_lm=build_lm(teacher_lm) if teacher_lm is not None else None,
            reflection_lm=_reflection_lm(teacher_lm or base.editor_lm) if instruction_calls > 0 else None,
            cache=cache,
            holdout=holdout,
        )
    finally:
        cache.close()
    manifest = EditorManifest(
        tasks=tuple(sorted(task_data)),
        runs=tuple(str(r) for r in run_dirs),
        budget=budget,
        models=_models(base, teacher_lm),
        priors=tuned.priors,
        demos=len(tuned.module.propose.demos),
        measured={
            **tuned.measured,
            "outcomes": len(outcomes),
            "samples": samples,
            "teachers": list(teachers),
        },
        versions=_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    return save_editor(out, tuned.module, manifest), tuned


def _reflection_lm(config: LMConfig) -> Any:
    """The LM that rewrites the editor's instructions for dspy.GEPA: its prompt holds the current
    instructions and one proposal's evidence, its reply a whole new instruction."""
    return build_lm(config.model_copy(update={"max_tokens": 1024, "n_ctx": 8192}))


def _models(base: RunConfig, teacher: LMConfig | None) -> dict[str, str]:
    models = {"task": base.task_lm.model, "editor": base.editor_lm.model}
    if teacher is not None:
        models["teacher"] = teacher.model
    return models


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for package in ("spl-opt", "dspy"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out
