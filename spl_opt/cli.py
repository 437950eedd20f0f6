"""The `spl-opt` command line: optimize, resume."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from spl_opt.core.errors import SplError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spl-opt", description="System Prompt Learning: learn a system prompt."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    opt = sub.add_parser("optimize", help="learn a system prompt for a task")
    opt.add_argument(
        "--task",
        default="letters",
        help="letters | gsm8k | bbh:<name> | any name with --data (default: letters)",
    )
    opt.add_argument(
        "--data", help="your own BBH-style .json or .jsonl file (input/target or question/answer)"
    )
    opt.add_argument("--data-dir", help="where gsm8k/ and bbh/ live (default: ../shared/data)")
    opt.add_argument(
        "--task-model",
        default="embedded:qwen-0.5b",
        help="task LM: embedded:<name|path.gguf> or any dspy.LM model string",
    )
    opt.add_argument("--editor-model", default="embedded:qwen-1.5b", help="editor LM (same forms)")
    opt.add_argument("--api-base", help="API base URL for non-embedded models")
    opt.add_argument("--api-key-env", help="name of the environment variable holding the API key")
    opt.add_argument("--max-tokens", type=int, default=256, help="task LM generation budget per call")
    opt.add_argument(
        "--rollouts", type=int, default=300, help="budget: task-LM example evaluations in search"
    )
    opt.add_argument("--iterations", type=int, help="budget: search iterations")
    opt.add_argument("--minutes", type=float, help="budget: wall minutes of search")
    opt.add_argument("--patience", type=int, help="stop after this many iterations without a better prompt")
    opt.add_argument("--train", type=int, default=30, help="train examples (default 30)")
    opt.add_argument("--val", type=int, default=30, help="validation examples (default 30)")
    opt.add_argument("--test", type=int, default=50, help="test examples, never seen in search (default 50)")
    opt.add_argument("--minibatch", type=int, default=5, help="screening minibatch size")
    opt.add_argument("--workers", type=int, default=1, help="evaluation threads (1 for a local model)")
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--seed-prompt", help="the starting system prompt")
    opt.add_argument("--no-editor", action="store_true", help="use only the operators that need no LM")
    opt.add_argument("--run-dir", help="where the run is saved (default runs/<task>-<time>)")
    opt.add_argument(
        "--storage", help="Optuna storage URL for the ledger (default: optuna.journal in the run dir)"
    )
    res = sub.add_parser("resume", help="continue a killed run from its directory")
    res.add_argument("run_dir")
    return parser


def config_from_args(args: argparse.Namespace) -> Any:
    from spl_opt.config import DEFAULT_OPERATORS, validate_config

    operators = dict(DEFAULT_OPERATORS)
    if args.no_editor:
        operators["editor"] = 0.0
    lm_extra = {"api_base": args.api_base, "api_key_env": args.api_key_env}
    return validate_config(
        {
            "task": args.task,
            "data_file": args.data,
            "data_dir": args.data_dir,
            "seed": args.seed,
            "n_train": args.train,
            "n_val": args.val,
            "n_test": args.test,
            "seed_prompt": args.seed_prompt,
            "task_lm": {"model": args.task_model, "max_tokens": args.max_tokens, **lm_extra},
            "editor_lm": {"model": args.editor_model, "temperature": 0.7, "max_tokens": 384, **lm_extra},
            "budget": {
                "max_rollouts": args.rollouts,
                "max_iterations": args.iterations,
                "max_wall_seconds": args.minutes * 60 if args.minutes else None,
                "patience": args.patience,
            },
            "search": {"minibatch_size": args.minibatch, "workers": args.workers, "operators": operators},
            "run_dir": args.run_dir,
            "storage": args.storage,
        }
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("dspy").setLevel(
        logging.ERROR
    )  # per-call warnings (e.g. truncation) are recorded per example
    from spl_opt.engine import runner
    from spl_opt.engine.summary import render_summary

    try:
        if args.command == "optimize":
            report, run_dir = runner.run_config(config_from_args(args))
        else:
            report, run_dir = runner.resume(Path(args.run_dir))
    except SplError as exc:
        print(f"spl-opt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spl-opt: interrupted; continue with `spl-opt resume RUN_DIR`", file=sys.stderr)
        return 130
    print(render_summary(report))
    print(f"saved in {run_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
