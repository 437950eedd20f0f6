"""Peers benchmark: spl-opt against DSPy's GEPA and MIPROv2 (and the unoptimized seed prompt), alike.

    python -m benchmarks.peers --data letters,bbh:web_of_lies --optimizers seed,spl,gepa,mipro \\
        --budget 200 --seed 0

For each task (`--data`: `letters`, `gsm8k`, `bbh:<name>`, or a path to a BBH-style `.json` file,
`{"examples": [{"input": ..., "target": ...}]}`, or a `.jsonl` file with input/target or
question/answer rows; several comma-separated) and each optimizer, one run with:

- the same task LM (default embedded Qwen2.5-Coder-0.5B, temperature 0) and the same editor /
  reflection / prompt-proposal LM (default embedded Qwen2.5-Coder-1.5B, temperature 0.7);
- the same train / validation / test split (`--train/--val/--test`, shuffled with `--seed`); test
  examples are never seen during optimization;
- the same program and metric: the system prompt of one plain chat call (system = prompt, user =
  the example's input), the free-text reply scored by spl-opt's task scorer; see
  `benchmarks.peers_optimizers` for how GEPA and MIPROv2 optimize exactly that call;
- the same budget of task-LM rollouts (`--budget`): one rollout is one task-LM call made during
  optimization, counted below DSPy's (disabled) cache by a counting engine, identically for all;
  plus a wall-clock cap per run on the optimization (`--minutes`).

The harness then evaluates every chosen prompt on the test split itself, with the same code
(`ChatProgram` + the task scorer), and writes under `--out`: `<task>/<optimizer>.json` per run,
`<task>/curves.png` (best validation accuracy against rollouts, every optimizer), and
`summary.md` / `summary.json` (a table of every result JSON under `--out`). `seed` is the
unoptimized prompt: rollouts 0; its validation accuracy is measured by the harness, outside the
budget.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
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

from benchmarks.peers_optimizers import OPTIMIZERS, RunSpec, Usage, counted_lm
from benchmarks.peers_targets import targets, targets_markdown
from spl_opt.core.errors import ConfigError, DataError
from spl_opt.core.records import Example, TaskData
from spl_opt.engine.runner import task_scorer
from spl_opt.evaluators.length import LengthCounter
from spl_opt.evaluators.stats import mean_ci
from spl_opt.lm.config import LMConfig
from spl_opt.programs import ChatProgram
from spl_opt.tasks.registry import resolve_task

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).parent / "results" / "peers"
OPTIMIZER_ORDER = ("seed", "spl", "gepa", "mipro")
# distinct colour, dash and marker per optimizer, so equal curves still show each other
STYLES: dict[str, dict[str, Any]] = {
    "seed": {"color": "grey", "linestyle": "--", "marker": ""},
    "spl": {"color": "tab:blue", "linestyle": "-", "marker": "o"},
    "gepa": {"color": "tab:orange", "linestyle": (0, (5, 2)), "marker": "s"},
    "mipro": {"color": "tab:green", "linestyle": (0, (2, 2)), "marker": "^"},
}


# --------------------------------------------------------------------------------------------------
# Command line and data
# --------------------------------------------------------------------------------------------------


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _optimizers(value: str) -> list[str]:
    names = _csv(value)
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer(s) {unknown}; choose from {', '.join(OPTIMIZERS)}"
        )
    return list(dict.fromkeys(names))


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _minutes(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=_csv,
        default=["letters"],
        help="tasks, comma separated: letters, gsm8k, bbh:<name>, or a .json/.jsonl data file",
    )
    parser.add_argument("--optimizers", type=_optimizers, default=list(OPTIMIZER_ORDER))
    parser.add_argument("--budget", type=_positive, default=200, help="task-LM rollouts per run")
    parser.add_argument("--seed", type=int, default=0, help="data split and optimizers' random seed")
    parser.add_argument("--train", type=_positive, default=30)
    parser.add_argument("--val", type=_positive, default=20)
    parser.add_argument("--test", type=_positive, default=50)
    parser.add_argument(
        "--minibatch", type=_positive, default=5, help="spl minibatch = GEPA reflection minibatch"
    )
    parser.add_argument("--max-tokens", type=_positive, default=256, help="task LM generation budget")
    parser.add_argument("--task-model", default="embedded:qwen-0.5b")
    parser.add_argument("--editor-model", default="embedded:qwen-1.5b")
    parser.add_argument("--editor-temperature", type=float, default=0.7)
    parser.add_argument("--editor-max-tokens", type=_positive, default=384)
    parser.add_argument(
        "--editor-ctx",
        type=_positive,
        default=8192,
        help="editor context (GEPA's reflection prompts are long)",
    )
    parser.add_argument("--minutes", type=_minutes, default=25.0, help="wall-clock cap on each optimization")
    parser.add_argument("--mipro-candidates", type=_positive, default=6, help="MIPROv2 num_candidates")
    parser.add_argument(
        "--data-dir", default=None, help="where gsm8k/ and bbh/ live (default: the copy shipped in spl_opt)"
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--runs", default="runs/bench-peers", help="spl run directories")
    parser.add_argument(
        "--skip-existing", action="store_true", help="keep a run whose JSON exists with the same settings"
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


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


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------


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
    prompt: str, examples: Sequence[Example], task: TaskData, models: Models
) -> tuple[list[float], Usage]:
    """Scores of `prompt` on `examples` with ChatProgram and the task scorer; a failed call scores 0."""
    usage = Usage()
    program = ChatProgram(counted_lm(fresh(models.task_engine), models.task_config, usage))
    scorer = task_scorer(task)
    scores: list[float] = []
    for example in examples:
        try:
            scores.append(float(scorer(example, program.run(prompt, example))[0]))
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
    }


def run_one(
    task: TaskData,
    spec_name: str,
    optimizer: str,
    args: argparse.Namespace,
    models: Models,
    meta: dict[str, Any],
) -> dict[str, Any]:
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
        outcome = OPTIMIZERS[optimizer](spec)
    except Exception as exc:
        record.update(
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            rollouts=task_usage.calls,
            editor_calls=editor_usage.calls,
            usage={"task": task_usage.as_dict(), "editor": editor_usage.as_dict()},
            wall_seconds={"optimize": round(time.monotonic() - start, 1)},
        )
        return record
    optimize_seconds = time.monotonic() - start

    val_usage = Usage()
    val_accuracy = outcome.val_accuracy
    curve = outcome.curve
    if optimizer == "seed":  # measured here, outside the budget: no optimizer spent rollouts on it
        val_scores, val_usage = evaluate_prompt(outcome.prompt, task.val, task, models)
        val_accuracy = mean_ci(val_scores)[0]
        curve = [(0, val_accuracy)]
    test_start = time.monotonic()
    test_scores, test_usage = evaluate_prompt(outcome.prompt, task.test, task, models)
    test_seconds = time.monotonic() - test_start
    mean, low, high = mean_ci(test_scores)
    record.update(
        test={
            "accuracy": mean,
            "ci95": [low, high],
            "n": len(test_scores),
            "scores": test_scores,
            "errors": test_usage.errors,
            "usage": test_usage.as_dict(),
        },
        val_accuracy=val_accuracy,
        rollouts=task_usage.calls,
        overshoot=max(0, task_usage.calls - args.budget),
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
        seed_prompt=task.seed_prompt,
        seed_prompt_tokens=models.count_tokens(task.seed_prompt),
        curve=[[int(r), float(a)] for r, a in curve],
        stop_reason=outcome.stop_reason,
        details=_with_token_counts(outcome.details, models.count_tokens),
    )
    return record


def _with_token_counts(details: dict[str, Any], count: Callable[[str], int]) -> dict[str, Any]:
    """`details` with each population member's prompt measured in task-model tokens, as the learned
    prompt is (the length target compares members against GEPA's prompt)."""
    population = details.get("population")
    if not isinstance(population, list):
        return details
    measured = [{**m, "prompt_tokens": count(str(m.get("prompt", "")))} for m in population]
    return {**details, "population": measured}


# --------------------------------------------------------------------------------------------------
# Outputs: JSON per run, curves per task, summary table
# --------------------------------------------------------------------------------------------------


def result_path(out: Path, task_name: str, optimizer: str) -> Path:
    return out / slug(task_name) / f"{optimizer}.json"


def load_results(out: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(out.glob("*/*.json")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(row, dict) and "optimizer" in row and "task" in row:
            rows.append(row)
    order = {name: i for i, name in enumerate(OPTIMIZER_ORDER)}
    return sorted(rows, key=lambda r: (r["task"], order.get(r["optimizer"], 99)))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def accuracy_cell(test: dict[str, Any]) -> str:
    """`accuracy [low, high]` of a record with `accuracy` and `ci95`."""
    low, high = test["ci95"]
    return f"{test['accuracy']:.2f} [{low:.2f}, {high:.2f}]"


def to_markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| task | optimizer | test acc [95% CI] | val acc | rollouts / budget | editor calls "
        "| prompt tokens | wall (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['task']} | {r['optimizer']} | failed: {r['error'][:80]} | | | | | |")
            continue
        lines.append(
            f"| {r['task']} | {r['optimizer']} | {accuracy_cell(r['test'])} "
            f"| {_fmt(r['val_accuracy'])} | {r['rollouts']} / {r['budget']} | {r['editor_calls']} "
            f"| {r['prompt_tokens']} | {r['wall_seconds']['total'] / 60:.1f} |"
        )
    commands = sorted({r.get("command", "") for r in rows} - {""})
    lines += ["", "Command(s):", *[f"- `{c}`" for c in commands]]
    lines += [
        "",
        "Test accuracy: mean over the test split with a 95% Wilson interval; val acc: the chosen prompt's "
        "validation accuracy as measured by its optimizer (seed: by the harness, outside the budget); "
        "rollouts: task-LM calls during optimization (test evaluation not included); wall: optimization "
        "plus test evaluation.",
    ]
    return "\n".join(lines) + "\n"


def plot_curves(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Best validation accuracy against rollouts, one step line per optimizer (seed: a flat line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    budget = max((r.get("budget", 0) for r in rows), default=0)
    right = max([budget, *(r.get("rollouts", 0) for r in rows)], default=1) or 1
    for r in rows:
        curve = r.get("curve") or []
        name = r["optimizer"]
        style = STYLES.get(name, {"color": None, "linestyle": "-", "marker": "o"})
        if "error" in r or not curve:  # failed, or no full validation evaluation before a cap
            why = "failed" if "error" in r else "no validation evaluation"
            ax.plot([], [], color=style["color"], linestyle=style["linestyle"], label=f"{name} ({why})")
            continue
        xs = [p[0] for p in curve]
        ys = [p[1] for p in curve]
        if name == "seed":
            ax.axhline(ys[0], color=style["color"], linestyle=style["linestyle"], label=f"seed ({ys[0]:.2f})")
            continue
        evaluated = list(range(len(xs)))  # markers on the evaluations, not on the line's end
        xs.append(max(r.get("rollouts", xs[-1]), xs[-1]))
        ys.append(ys[-1])
        ax.step(
            xs,
            ys,
            where="post",
            markevery=evaluated,
            markersize=4,
            linewidth=1.6,
            alpha=0.85,
            label=f"{name} ({ys[-1]:.2f})",
            **style,
        )
    if budget:
        ax.axvline(budget, linestyle=":", color="black", linewidth=1, label=f"budget {budget}")
    ax.set_xlim(0, right * 1.05)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("task-LM rollouts during optimization")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"{rows[0]['task']}: best validation accuracy vs rollouts" if rows else "")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path


def write_outputs(out: Path) -> list[dict[str, Any]]:
    """summary.md, summary.json, targets.json and one curves.png per task, from every result JSON under
    `out`."""
    rows = load_results(out)
    out.mkdir(parents=True, exist_ok=True)
    verdicts = targets(rows)
    (out / "summary.md").write_text(to_markdown(rows) + "\n" + targets_markdown(verdicts), encoding="utf-8")
    summary = [
        {
            k: r.get(k)
            for k in (
                "task",
                "optimizer",
                "test",
                "val_accuracy",
                "rollouts",
                "budget",
                "editor_calls",
                "prompt_tokens",
                "wall_seconds",
                "error",
            )
        }
        for r in rows
    ]
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "targets.json").write_text(json.dumps(verdicts, indent=2) + "\n", encoding="utf-8")
    for task_name in sorted({r["task"] for r in rows}):
        plot_curves([r for r in rows if r["task"] == task_name], out / slug(task_name) / "curves.png")
    return rows


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


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
    if not args.skip_existing or not path.is_file():
        return False
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return "error" not in row and row.get("settings") == settings_of(args)


def run(
    args: argparse.Namespace, models: Models | None = None, *, command: str | None = None
) -> list[dict[str, Any]]:
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
            path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            results.append(record)
            if "error" in record:
                print(f"[{task.name} / {optimizer}] FAILED: {record['error']}", flush=True)
            else:
                print(
                    f"[{task.name} / {optimizer}] test {accuracy_cell(record['test'])}"
                    f", val {_fmt(record['val_accuracy'])}, rollouts {record['rollouts']}/{args.budget}, "
                    f"editor calls {record['editor_calls']}, {record['wall_seconds']['total'] / 60:.1f} min",
                    flush=True,
                )
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


if __name__ == "__main__":
    main()
