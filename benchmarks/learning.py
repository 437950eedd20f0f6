"""Learning benchmark: the seed prompt's and the learned prompt's *test* accuracy, per task.

    python -m benchmarks.learning --tasks letters,bbh:sports_understanding,bbh:web_of_lies

Each task runs the real CLI job (default embedded models) with the given budget; results are read
from the run directories and written to benchmarks/results/learning.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from spl_opt.config import validate_config
from spl_opt.engine.runner import run_config
from spl_opt.evaluators.stats import mean_ci

RESULTS = Path(__file__).parent / "results"


def _ci(results: list[dict[str, Any]]) -> tuple[float, float, float]:
    return mean_ci([r["score"] for r in results])


def run_task(task: str, args: argparse.Namespace) -> dict[str, Any]:
    config = validate_config(
        {
            "task": task,
            "seed": args.seed,
            "n_train": args.train,
            "n_val": args.val,
            "n_test": args.test,
            "task_lm": {"model": args.task_model, "max_tokens": args.max_tokens},
            "editor_lm": {"model": args.editor_model, "temperature": 0.7, "max_tokens": 384},
            "budget": {"max_rollouts": args.rollouts, "max_wall_seconds": args.search_minutes * 60},
            "search": {"minibatch_size": args.minibatch},
            "run_dir": str(Path(args.runs) / task.replace(":", "-")),
        }
    )
    report, run_dir = run_config(config, echo=True)
    assert report.seed_test is not None and report.best_test is not None
    seed = _ci([r.model_dump() for r in report.seed_test.results])
    best = _ci([r.model_dump() for r in report.best_test.results])
    s = report.search
    return {
        "task": task,
        "run_dir": str(run_dir),
        "seed_test": seed,
        "learned_test": best,
        "gain_points": round(100 * (best[0] - seed[0]), 1),
        "seed_val": s.seed.evaluation.objectives.accuracy,
        "learned_val": s.best.evaluation.objectives.accuracy,
        "seed_tokens": s.seed.evaluation.objectives.length_tokens,
        "learned_tokens": s.best.evaluation.objectives.length_tokens,
        "learned_prompt": s.best.candidate.prompt,
        "rollouts": s.rollouts,
        "iterations": s.iterations,
        "editor_calls": s.editor_usage.calls,
        "stop_reason": s.stop_reason,
        "wall_seconds": round(report.wall_seconds, 1),
        "lm_seconds": round(report.lm_seconds, 1),
        "overhead_share": round(max(0.0, report.wall_seconds - report.lm_seconds) / report.wall_seconds, 4),
    }


def to_markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        "| task | seed test acc [95% CI] | learned test acc [95% CI] | gain (points) | val seed → learned "
        "| prompt tokens seed → learned | rollouts | editor calls | wall (s) | overhead |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, b = r["seed_test"], r["learned_test"]
        lines.append(
            f"| {r['task']} | {s[0]:.2f} [{s[1]:.2f}, {s[2]:.2f}] | {b[0]:.2f} [{b[1]:.2f}, {b[2]:.2f}] | "
            f"{r['gain_points']:+.1f} | {r['seed_val']:.2f} → {r['learned_val']:.2f} | "
            f"{r['seed_tokens']} → {r['learned_tokens']} | {r['rollouts']} | {r['editor_calls']} | "
            f"{r['wall_seconds']:.0f} | {100 * r['overhead_share']:.2f}% |"
        )
    met = sum(r["gain_points"] >= 10 for r in rows)
    lines += ["", f"Tasks with learned ≥ seed + 10 points: {met} of {len(rows)}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="letters,bbh:sports_understanding,bbh:web_of_lies")
    parser.add_argument("--task-model", default="embedded:qwen-0.5b")
    parser.add_argument("--editor-model", default="embedded:qwen-1.5b")
    parser.add_argument("--rollouts", type=int, default=200)
    parser.add_argument("--search-minutes", type=float, default=11.0)
    parser.add_argument("--train", type=int, default=30)
    parser.add_argument("--val", type=int, default=20)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--minibatch", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench-learning")
    parser.add_argument("--out", default=str(RESULTS / "learning"))
    args = parser.parse_args()
    command = "python -m benchmarks.learning " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("runs", "out")
    )
    rows = []
    for task in args.tasks.split(","):
        start = time.monotonic()
        rows.append(run_task(task, args))
        print(
            f"[{task}] done in {time.monotonic() - start:.0f} s: {json.dumps(rows[-1]['learned_test'])}",
            flush=True,
        )
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "command": command,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        }
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        out.with_suffix(".md").write_text(to_markdown(rows, command))
    print(to_markdown(rows, command))


if __name__ == "__main__":
    main()
