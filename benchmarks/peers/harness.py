"""The harness: load the tasks and the models once, run every (task, optimizer) pair on the same
split, budget and counted LMs, score each chosen prompt on test with the same code, and write each
`PeerRun` as soon as its run ends (`benchmarks.peers` says what is alike between optimizers)."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.peers.cli import parse_args
from benchmarks.peers.metering import Usage, counted_lm
from benchmarks.peers.optimizers import run_optimizer
from benchmarks.peers.program import CALLS_PER_RUN, seed_prompt, student
from benchmarks.peers.report import one_line, write_outputs
from benchmarks.peers.results import PeerRun, TestScore, read_result, result_path, slug
from benchmarks.peers.spec import RunSpec
from spl_opt.core.errors import ConfigError, DataError
from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example, TaskData
from spl_opt.engine.runner import task_scorer
from spl_opt.evaluators.length import LengthCounter
from spl_opt.evaluators.stats import mean_ci
from spl_opt.lm.config import LMConfig
from spl_opt.programs import ChatProgram, DSPyProgram
from spl_opt.tasks.registry import resolve_task

ROOT = Path(__file__).resolve().parents[2]


def is_data_file(spec: str) -> bool:
    return spec.lower().endswith((".json", ".jsonl")) or Path(spec).is_file()


def load_task(spec: str, args: argparse.Namespace) -> TaskData:
    """The task named by `spec` (built-in name or data file), split by `--train/--val/--test/--seed`."""
    sizes = {"n_train": args.train, "n_val": args.val, "n_test": args.test, "seed": args.seed}
    if is_data_file(spec):
        path = Path(spec)
        return resolve_task(path.stem, data_file=path, **sizes)
    data_dir = Path(args.data_dir) if args.data_dir else None
    return resolve_task(spec, data_dir=data_dir, **sizes)


@dataclass
class Models:
    """The engines and sampling settings shared by every run (real llama.cpp engines or test fakes)."""

    task_engine: Any
    task_config: LMConfig
    editor_engine: Any
    editor_config: LMConfig
    count_tokens: Callable[[str], int]


def fresh(engine: Any) -> Any:
    """A new engine like `engine`, so a run's sampling seeds do not depend on the runs before it in the
    process (LlamaEngine draws a seed per call from its own counter; the loaded model is shared, not
    reloaded). Engines without dump_state/load_state (test fakes) are used as they are."""
    if hasattr(engine, "dump_state") and hasattr(type(engine), "load_state"):
        return type(engine).load_state(engine.dump_state())
    return engine


def evaluate_prompt(
    prompt: str, examples: Sequence[Example], task: TaskData, models: Models, program: str = "chat"
) -> tuple[list[float], Usage]:
    """Scores of `prompt` on `examples` with the task scorer; a failed call scores 0. The chat
    program is `ChatProgram`; two-step is `ExtractThenAnswer` with each step's part of the prompt,
    scored on its answer."""
    usage = Usage()
    lm = counted_lm(fresh(models.task_engine), models.task_config, usage)
    runnable: Any = ChatProgram(lm) if program == "chat" else DSPyProgram(student(program, task), lm)
    scorer = task_scorer(task)
    scores: list[float] = []
    for example in examples:
        try:
            out = runnable.run(prompt, example)
            if program != "chat":
                answer = str(getattr(out.value, "answer", "") or "")
                out = ProgramOutput(value=answer, text=answer)
            scores.append(float(scorer(example, out)[0]))
        except Exception:
            scores.append(0.0)
    return scores, usage


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    for package in ("dspy", "gepa", "optuna", "llama_cpp_python", "spl-opt"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    git = ["git", "-C", str(ROOT)]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read only: never refresh the index
    try:
        out["spl_opt_commit"] = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        out["spl_opt_dirty"] = bool(changed.strip())
    except (OSError, subprocess.CalledProcessError):
        out["spl_opt_commit"] = None
    out["cpus"] = os.cpu_count()
    return out


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that make two runs comparable (and a kept result reusable)."""
    return {
        "budget": args.budget,
        "seed": args.seed,
        "train": args.train,
        "val": args.val,
        "test": args.test,
        "minibatch": args.minibatch,
        "minutes": args.minutes,
        "max_tokens": args.max_tokens,
        "task_model": args.task_model,
        "editor_model": args.editor_model,
        "editor_temperature": args.editor_temperature,
        "editor_max_tokens": args.editor_max_tokens,
        "editor_ctx": args.editor_ctx,
        "mipro_candidates": args.mipro_candidates,
        "program": args.program,
    }


def run_one(
    task: TaskData,
    spec_name: str,
    optimizer: str,
    args: argparse.Namespace,
    models: Models,
    meta: dict[str, Any],
) -> PeerRun:
    """One (task, optimizer) run: optimize within the budget, then evaluate the chosen prompt on test."""
    task_usage, editor_usage = Usage(), Usage()
    spec = RunSpec(
        task=task,
        budget=args.budget,
        minutes=args.minutes,
        minibatch=args.minibatch,
        seed=args.seed,
        task_lm=counted_lm(fresh(models.task_engine), models.task_config, task_usage),
        editor_lm=counted_lm(fresh(models.editor_engine), models.editor_config, editor_usage)
        if models.editor_engine is not None
        else None,
        task_usage=task_usage,
        editor_usage=editor_usage,
        editor_temperature=models.editor_config.temperature,
        runs_dir=Path(args.runs) / slug(task.name),
        mipro_candidates=args.mipro_candidates,
        program=args.program,
    )
    record: dict[str, Any] = {
        "task": task.name,
        "data": spec_name,
        "optimizer": optimizer,
        "budget": args.budget,
        "settings": settings_of(args),
        "split": {"train": len(task.train), "val": len(task.val), "test": len(task.test), "seed": args.seed},
        "metric": task.metric,
        "seeds": {"split": args.seed, "optimizer": args.seed},
        "models": {
            "task": models.task_config.model_dump(),
            "editor": models.editor_config.model_dump(),
        },
        **meta,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    start = time.monotonic()
    try:
        outcome = run_optimizer(optimizer, spec)
    except Exception as exc:
        record.update(
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            rollouts=task_usage.calls // CALLS_PER_RUN[args.program],
            editor_calls=editor_usage.calls,
            usage={"task": task_usage.as_dict(), "editor": editor_usage.as_dict()},
            wall_seconds={"optimize": round(time.monotonic() - start, 1)},
        )
        return PeerRun.model_validate(record)
    optimize_seconds = time.monotonic() - start

    val_usage = Usage()
    val_accuracy = outcome.val_accuracy
    curve = outcome.curve
    if optimizer == "seed":  # measured here, outside the budget: no optimizer spent rollouts on it
        val_scores, val_usage = evaluate_prompt(outcome.prompt, task.val, task, models, args.program)
        val_accuracy = mean_ci(val_scores)[0]
        curve = [(0, val_accuracy)]
    runs = task_usage.calls // CALLS_PER_RUN[args.program]  # program runs: what the budget counts
    test_start = time.monotonic()
    test_scores, test_usage = evaluate_prompt(outcome.prompt, task.test, task, models, args.program)
    test_seconds = time.monotonic() - test_start
    mean, low, high = mean_ci(test_scores)
    record.update(
        test=TestScore(
            accuracy=mean,
            ci95=(low, high),
            n=len(test_scores),
            scores=test_scores,
            errors=test_usage.errors,
            usage=test_usage.as_dict(),
        ),
        val_accuracy=val_accuracy,
        rollouts=runs,
        overshoot=max(0, runs - args.budget),
        optimizer_reported_rollouts=outcome.optimizer_rollouts,
        editor_calls=editor_usage.calls,
        tokens={
            "task_input": task_usage.input_tokens,
            "task_output": task_usage.output_tokens,
            "editor_input": editor_usage.input_tokens,
            "editor_output": editor_usage.output_tokens,
        },
        usage={
            "task": task_usage.as_dict(),
            "editor": editor_usage.as_dict(),
            "seed_val": val_usage.as_dict(),
        },
        wall_seconds={
            "optimize": round(optimize_seconds, 1),
            "test": round(test_seconds, 1),
            "total": round(time.monotonic() - start, 1),
        },
        prompt=outcome.prompt,
        prompt_tokens=models.count_tokens(outcome.prompt),
        seed_prompt=seed_prompt(args.program, task),
        seed_prompt_tokens=models.count_tokens(seed_prompt(args.program, task)),
        curve=[(int(r), float(a)) for r, a in curve],
        stop_reason=outcome.stop_reason,
        details=_with_token_counts(outcome.details, models.count_tokens),
    )
    return PeerRun.model_validate(record)


def _with_token_counts(details: dict[str, Any], count: Callable[[str], int]) -> dict[str, Any]:
    """`details` with each population member's prompt measured in task-model tokens, as the learned
    prompt is (the length target compares members against GEPA's prompt)."""
    population = details.get("population")
    if not isinstance(population, list):
        return details
    measured = [{**m, "prompt_tokens": count(str(m.get("prompt", "")))} for m in population]
    return {**details, "population": measured}


def lm_configs(args: argparse.Namespace) -> tuple[LMConfig, LMConfig]:
    task = LMConfig(model=args.task_model, temperature=0.0, max_tokens=args.max_tokens)
    editor = LMConfig(
        model=args.editor_model,
        temperature=args.editor_temperature,
        max_tokens=args.editor_max_tokens,
        n_ctx=args.editor_ctx,
    )
    return task, editor


def build_models(args: argparse.Namespace, need_editor: bool) -> Models:
    """The embedded (llama.cpp) engines, loaded once and shared by every run of this process."""
    from spl_opt.lm.config import build_lm

    task_config, editor_config = lm_configs(args)
    engines = []
    for config in (task_config, editor_config) if need_editor else (task_config,):
        engine = getattr(build_lm(config), "engine", None)
        if engine is None or not callable(getattr(engine, "complete", None)):
            raise SystemExit(
                f"{config.model}: the peers harness counts calls at the engine; use an embedded model"
            )
        engines.append(engine)
    count = getattr(engines[0], "count_tokens", None)
    return Models(
        task_engine=engines[0],
        task_config=task_config,
        editor_engine=engines[1] if need_editor else None,
        editor_config=editor_config,
        count_tokens=LengthCounter(count),
    )


def _kept(path: Path, args: argparse.Namespace) -> bool:
    if not args.skip_existing:
        return False
    kept = read_result(path)
    return kept is not None and not kept.failed and kept.settings == settings_of(args)


def run(
    args: argparse.Namespace, models: Models | None = None, *, command: str | None = None
) -> list[PeerRun]:
    """Every (task, optimizer) run; each result JSON is written as soon as its run ends."""
    out = Path(args.out)
    tasks = [(spec, load_task(spec, args)) for spec in args.data]  # fail on bad data before any model load
    if models is None:
        models = build_models(args, need_editor=any(o != "seed" for o in args.optimizers))
    meta = {
        "command": command or "python -m benchmarks.peers " + shlex.join(sys.argv[1:]),
        "versions": versions(),
    }
    results = []
    for spec, task in tasks:
        for optimizer in args.optimizers:
            path = result_path(out, task.name, optimizer)
            if _kept(path, args):
                print(f"[{task.name} / {optimizer}] kept {path}", flush=True)
                continue
            print(
                f"[{task.name} / {optimizer}] {len(task.train)}/{len(task.val)}/{len(task.test)} examples, "
                f"budget {args.budget} rollouts, cap {args.minutes:g} min",
                flush=True,
            )
            record = run_one(task, spec, optimizer, args, models, meta)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(record.to_json(), encoding="utf-8")
            results.append(record)
            print(f"[{task.name} / {optimizer}] {one_line(record)}", flush=True)
            write_outputs(out)
    write_outputs(out)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except (DataError, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print((Path(args.out) / "summary.md").read_text(encoding="utf-8"))
