"""The harness's command line: `python -m benchmarks.peers --help`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import benchmarks.peers
from benchmarks.peers.results import OPTIMIZER_ORDER

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results" / "peers"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _optimizers(value: str) -> list[str]:
    names = _csv(value)
    unknown = [n for n in names if n not in OPTIMIZER_ORDER]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer(s) {unknown}; choose from {', '.join(OPTIMIZER_ORDER)}"
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
        description=benchmarks.peers.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=_csv,
        default=["letters"],
        help="tasks, comma separated: letters, gsm8k, bbh:<name>, or a .json/.jsonl data file",
    )
    parser.add_argument("--optimizers", type=_optimizers, default=list(OPTIMIZER_ORDER))
    parser.add_argument(
        "--program",
        choices=["chat", "two-step"],
        default="chat",
        help="what is optimized: one chat call's system prompt, or the instructions of each step of "
        "spl_opt.dspy_programs.ExtractThenAnswer (the budget then counts program runs, 2 LM calls each)",
    )
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
