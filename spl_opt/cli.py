"""The `spl-opt` command line: optimize, resume, init, export, report, dashboard.

Every optimize flag has a configuration key (`--config run.toml`); flags given on the command line
override the file, and the file overrides the defaults of `RunConfig`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from spl_opt.core.errors import ConfigError, SplError

# flag -> dotted configuration key (None: handled specially)
FLAG_KEYS: dict[str, str | None] = {
    "task": "task",
    "data": "data_file",
    "data_dir": "data_dir",
    "task_model": "task_lm.model",
    "editor_model": "editor_lm.model",
    "api_base": None,
    "api_key_env": None,
    "timeout": None,
    "max_tokens": "task_lm.max_tokens",
    "rollouts": "budget.max_rollouts",
    "iterations": "budget.max_iterations",
    "minutes": None,
    "patience": "budget.patience",
    "train": "n_train",
    "val": "n_val",
    "test": "n_test",
    "minibatch": "search.minibatch_size",
    "workers": "backend.workers",
    "parallel": "search.parallel",
    "backend": "backend.kind",
    "ray_address": "backend.address",
    "worker_concurrency": "backend.worker_concurrency",
    "cpus_per_worker": "backend.cpus_per_worker",
    "seed": "seed",
    "seed_prompt": "seed_prompt",
    "program": "program",
    "no_editor": None,
    "editor": "editor",
    "run_dir": "run_dir",
    "storage": "storage",
    "quiet": "quiet",
    "mlflow": "mlflow",
}


def _optimize_parser(sub: Any) -> None:
    opt = sub.add_parser("optimize", help="learn a system prompt for a task")
    add = opt.add_argument
    add("--config", help="a .toml or .yaml run configuration (see `spl-opt init`)")
    add("--task", help="letters | gsm8k | bbh:<name> | any name with --data (default: letters)")
    add("--data", help="your own BBH-style .json or .jsonl file (input/target or question/answer)")
    add("--data-dir", help="where gsm8k/ and bbh/ live (default: the copy shipped in the package)")
    add(
        "--task-model",
        help="task LM: embedded:<name|path.gguf> or a dspy.LM model (default embedded:qwen-0.5b)",
    )
    add("--editor-model", help="editor LM, same forms (default embedded:qwen-1.5b)")
    add("--api-base", help="API base URL for non-embedded models (task and editor)")
    add("--api-key-env", help="NAME of the environment variable holding the API key")
    add("--timeout", type=float, help="seconds an API call may take before it fails (default 60)")
    add("--max-tokens", type=int, help="task LM generation budget per call (default 256)")
    add("--rollouts", type=int, help="budget: task-LM example evaluations in search (default 300)")
    add("--iterations", type=int, help="budget: search iterations")
    add("--minutes", type=float, help="budget: wall minutes of search")
    add("--patience", type=int, help="stop after this many iterations without a better prompt")
    add("--train", type=int, help="train examples (default 30)")
    add("--val", type=int, help="validation examples (default 30)")
    add("--test", type=int, help="test examples, never seen in search (default 50)")
    add("--minibatch", type=int, help="screening minibatch size (default 5)")
    add("--workers", type=int, help="evaluation threads (default 1, right for a local model)")
    add("--parallel", type=int, help="search iterations in flight at once (default 1)")
    _backend_flags(add)
    add("--seed", type=int, help="random seed for splits and search (default 0)")
    add("--seed-prompt", help="the starting system prompt")
    add(
        "--program",
        help="a DSPy program as module:function, e.g. spl_opt.dspy_programs:extract_then_answer "
        "(one playbook per predictor; default: one chat call)",
    )
    add("--no-editor", action="store_true", default=None, help="use only the operators that need no LM")
    add("--editor", help="a tuned editor's directory (from `spl-opt tune-editor`), or builtin:embedded")
    add("--run-dir", help="where the run is saved (default runs/<task>-<time>)")
    add("--storage", help="Optuna storage URL for the ledger (default: optuna.journal in the run dir)")
    add("--quiet", action="store_true", default=None, help="log lines only, no live progress display")
    add("--mlflow", metavar="URI", help="log parameters, metrics and artifacts to this MLflow tracking URI")


def _backend_flags(add: Any) -> None:
    add("--backend", choices=("thread", "ray"), help="where calls run: this process (default) or Ray actors")
    add("--ray-address", help="join a running Ray cluster: auto or HOST:PORT (implies --backend ray)")
    add("--worker-concurrency", type=int, help="Ray: calls in flight per actor (default 1; more for APIs)")
    add("--cpus-per-worker", type=float, help="Ray: CPUs each actor reserves (default 1)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spl-opt", description="System Prompt Learning: learn a system prompt."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _optimize_parser(sub)
    res = sub.add_parser("resume", help="continue a killed run from its directory")
    res.add_argument("run_dir")
    res.add_argument("--quiet", action="store_true", help="log lines only")
    res.add_argument("--workers", type=int, help="evaluation threads or Ray actors for this session")
    _backend_flags(res.add_argument)
    init = sub.add_parser("init", help="write a commented example configuration")
    init.add_argument("path", nargs="?", default="spl-opt.toml")
    exp = sub.add_parser(
        "export",
        help="the learned prompt as text, the playbook as JSON, a DSPy program, or (from an online "
        "learner's store) the well-answered calls as chat JSONL for fine-tuning",
    )
    exp.add_argument("run_dir", metavar="RUN_DIR_OR_STORE")
    exp.add_argument("--format", choices=("text", "json", "dspy", "distill"), default="text")
    exp.add_argument(
        "--out", help="output file (default: standard output for text/json/distill, RUN_DIR/program.json)"
    )
    rep = sub.add_parser("report", help="write a self-contained HTML report with figures")
    rep.add_argument("run_dir")
    rep.add_argument("--out", help="output directory (default RUN_DIR/report)")
    rep.add_argument(
        "--measure",
        action="store_true",
        help="measure each strategy's contribution on validation data and the best-so-far prompt's "
        "test accuracy along the search (runs the task LM, through the run's cache)",
    )
    edits = sub.add_parser("edits", help="export the edit-outcome data of runs as JSON lines")
    edits.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    edits.add_argument("--out", required=True, help="the .jsonl file to write")
    _tune_parser(sub)
    from spl_opt.online.commands import add_parsers

    add_parsers(sub)
    dash = sub.add_parser("dashboard", help="open optuna-dashboard on the run's ledger")
    dash.add_argument("run_dir")
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)
    return parser


def _tune_parser(sub: Any) -> None:
    tune = sub.add_parser("tune-editor", help="tune the editor on a family of tasks and save it")
    add = tune.add_argument
    add(
        "--tasks",
        default="",
        help="tasks, comma separated (letters, gsm8k, bbh:<name>); each not covered "
        "by --runs gets a search of its own",
    )
    add("--runs", nargs="*", default=[], metavar="RUN_DIR", help="earlier runs to learn from")
    add("--budget", type=int, default=60, help="rollouts per tuning search (default 60; 0: no searches)")
    add(
        "--samples",
        type=int,
        default=0,
        help="fresh measured edits of the untuned editor per task, beside the searches (default 0)",
    )
    add(
        "--teachers",
        default="",
        help="operators that need no LM measured on the same samples, their winning edits "
        "demonstrations too: answer-format, worked-example (comma separated; default none)",
    )
    add("--pool", type=int, default=12, help="training examples each sample is measured on (default 12)")
    add("--minibatch", type=int, default=4, help="of which shown to the editor as evidence (default 4)")
    add("--holdout", type=float, default=0.3, help="share of edits held out to measure the result")
    add("--out", required=True, help="where to save the tuned editor (e.g. editors/mine)")
    add("--task-model", default="embedded:qwen-0.5b")
    add("--editor-model", default="embedded:qwen-1.5b")
    add("--teacher-model", help="a stronger LM that writes candidate edits offline (measured all the same)")
    add("--demos", type=int, default=4, help="demonstrations in the tuned editor (default 4)")
    add("--bootstrap", type=int, default=2, help="of which freshly written and measured (default 2)")
    add(
        "--instructions",
        type=int,
        default=0,
        metavar="CALLS",
        help="evolve the editor's instructions with dspy.GEPA in this many measured edits (default 0: off)",
    )
    add("--train", type=int, default=30)
    add("--val", type=int, default=30)
    add("--seed", type=int, default=0)
    add("--data-dir", help="where gsm8k/ and bbh/ live (default: the packaged copy)")


def _tune(args: argparse.Namespace) -> int:
    from spl_opt.lm.config import LMConfig
    from spl_opt.tuning.pipeline import tune_from_tasks

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks and not args.runs:
        raise ConfigError("tune-editor needs --tasks or --runs")
    editor = LMConfig(model=args.editor_model, temperature=0.7, max_tokens=384)
    path, tuned = tune_from_tasks(
        tasks=tasks,
        runs=[Path(r) for r in args.runs],
        out=Path(args.out),
        budget=args.budget,
        task_lm=LMConfig(model=args.task_model),
        editor_lm=editor,
        teacher_lm=LMConfig(model=args.teacher_model, temperature=0.7, max_tokens=384)
        if args.teacher_model
        else None,
        demos=args.demos,
        bootstrapped=args.bootstrap,
        instruction_calls=args.instructions,
        seed=args.seed,
        n_train=args.train,
        n_val=args.val,
        data_dir=args.data_dir,
        samples=args.samples,
        teachers=[t.strip() for t in args.teachers.split(",") if t.strip()],
        pool=args.pool,
        minibatch=args.minibatch,
        holdout=args.holdout,
    )
    print(json.dumps(tuned.measured, indent=2))
    print(f"saved the tuned editor in {path}; use it with `spl-opt optimize --editor {path}`")
    return 0


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated RunConfig: defaults, then the --config file, then the flags given."""
    from spl_opt.config import DEFAULT_OPERATORS, validate_config
    from spl_opt.config_file import load_config_file, merge

    data = load_config_file(Path(args.config)) if getattr(args, "config", None) else {}
    flags: dict[str, Any] = {}
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None and key is not None:
            _set(flags, key, value)
    for role in ("task_lm", "editor_lm"):
        for flag in ("api_base", "api_key_env", "timeout"):
            if getattr(args, flag, None) is not None:
                _set(flags, f"{role}.{flag}", getattr(args, flag))
    if args.minutes is not None:
        _set(flags, "budget.max_wall_seconds", args.minutes * 60)
    if args.ray_address is not None and args.backend is None:
        _set(flags, "backend.kind", "ray")
    if args.no_editor:
        operators = dict(data.get("search", {}).get("operators", DEFAULT_OPERATORS))
        _set(flags, "search.operators", {**operators, "editor": 0.0})
    return validate_config(merge(data, flags))


def _run(args: argparse.Namespace) -> int:
    from spl_opt.engine import runner
    from spl_opt.engine.summary import render_summary

    if args.command == "optimize":
        report, run_dir = runner.run_config(config_from_args(args))
    else:
        backend = {k: v for k, v in _backend_overrides(args).items() if v is not None}
        report, run_dir = runner.resume(
            Path(args.run_dir), quiet=args.quiet or None, backend=backend, workers=args.workers
        )
    print(render_summary(report))
    print(f"saved in {run_dir}")
    return 0


def _backend_overrides(args: argparse.Namespace) -> dict[str, Any]:
    kind = args.backend or ("ray" if args.ray_address else None)
    return {
        "kind": kind,
        "address": args.ray_address,
        "worker_concurrency": args.worker_concurrency,
        "cpus_per_worker": args.cpus_per_worker,
    }


def _other(args: argparse.Namespace) -> int:
    if args.command == "init":
        from spl_opt.config_file import write_example

        print(f"wrote {write_example(Path(args.path))}")
    elif args.command == "export" and args.format == "distill":
        from spl_opt.online.commands import export_distill

        written = export_distill(args.run_dir, Path(args.out) if args.out else None)
        if written is not None:
            print(f"wrote {written}", file=sys.stderr)
    elif args.command == "export":
        from spl_opt.export import export

        written = export(Path(args.run_dir), args.format, Path(args.out) if args.out else None)
        if written is not None:
            print(f"wrote {written}", file=sys.stderr)
    elif args.command == "report":
        from spl_opt.report import write_report

        run_dir = Path(args.run_dir)
        measured: tuple[Any, ...] = ()
        curve: list[tuple[int, float]] = []
        if args.measure:
            from spl_opt.engine.measure import measure_ablations, measure_test_curve
            from spl_opt.export import load_report

            report = load_report(run_dir)
            measured = tuple(measure_ablations(run_dir, report))
            curve = measure_test_curve(run_dir, report)
        out = Path(args.out) if args.out else None
        print(f"wrote {write_report(run_dir, out, measured=measured, test_curve=curve)}")
    elif args.command == "edits":
        from spl_opt.tuning.outcomes import export_edits

        count = export_edits([Path(d) for d in args.run_dirs], Path(args.out))
        print(f"wrote {count} edit outcomes to {args.out}")
    elif args.command == "tune-editor":
        return _tune(args)
    elif args.command == "playbook":
        from spl_opt.online.commands import playbook_command

        return playbook_command(args)
    elif args.command == "serve":
        from spl_opt.online.commands import serve_command

        return serve_command(args)
    elif args.command == "dashboard":
        from spl_opt.dashboard import serve

        serve(Path(args.run_dir), host=args.host, port=args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("dspy").setLevel(logging.ERROR)  # per-call warnings are recorded per example
    try:
        return _run(args) if args.command in ("optimize", "resume") else _other(args)
    except SplError as exc:
        print(f"spl-opt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spl-opt: interrupted; continue with `spl-opt resume RUN_DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
