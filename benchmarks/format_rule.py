"""How much does stating the answer format change accuracy? Seed prompt against seed + the
answer-format operator's rule, side by side on the same examples and model (no search, no budget).

This is the measurement behind the operator policy's default prior for format failures
(`spl_opt.engine.operator_choice`):
    python -m benchmarks.format_rule --data letters,bbh:web_of_lies --split val,test

Splits are the peers harness's (same `--train/--val/--test/--seed`), so the numbers line up with
`benchmarks/results/peers/`. Writes `results/format_rule.{md,json}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.cli import parse_args
from benchmarks.peers.harness import Models, build_models, evaluate_prompt, load_task
from spl_opt.core.records import Playbook, Strategy, TaskData
from spl_opt.editor.operators import AnswerFormatOperator
from spl_opt.evaluators.metrics import example_labels, parse_number
from spl_opt.evaluators.stats import mean_ci

RESULTS = Path(__file__).parent / "results"


def rule_prompt(task: TaskData) -> str:
    """The seed prompt plus the rule the answer-format operator would add (built from train targets)."""
    targets = tuple(e.target for e in task.train)
    numeric = all(parse_number(t) is not None for t in targets)
    rule = AnswerFormatOperator(targets, example_labels(task.train), numeric).rule
    strategy = Strategy(id="s1", title=AnswerFormatOperator.title, text=rule)
    return Playbook(preamble=task.seed_prompt, strategies=(strategy,)).render()


def measure(task: TaskData, splits: Sequence[str], models: Models) -> dict[str, Any]:
    """Accuracy [95% CI] and mean seconds per call of both prompts on the union of `splits`."""
    examples = [e for split in splits for e in getattr(task, split)]
    out: dict[str, Any] = {"task": task.name, "splits": list(splits), "n": len(examples)}
    for name, prompt in (("seed", task.seed_prompt), ("rule", rule_prompt(task))):
        scores, usage = evaluate_prompt(prompt, examples, task, models)
        accuracy, low, high = mean_ci(scores)
        out[name] = {
            "prompt": prompt,
            "accuracy": accuracy,
            "ci95": [low, high],
            "seconds_per_call": usage.seconds / max(usage.calls, 1),
            "output_tokens_per_call": usage.output_tokens / max(usage.calls, 1),
        }
    return out


def _cell(result: dict[str, Any]) -> str:
    low, high = result["ci95"]
    return f"{result['accuracy']:.2f} [{low:.2f}, {high:.2f}]"


def to_markdown(rows: Sequence[dict[str, Any]], command: str) -> str:
    lines = [
        "| task | n | seed acc [95% CI] | seed + format rule [95% CI] | change | s/call seed → rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, f = r["seed"], r["rule"]
        lines.append(
            f"| {r['task']} | {r['n']} | {_cell(s)} | {_cell(f)} "
            f"| {100 * (f['accuracy'] - s['accuracy']):+.0f} points "
            f"| {s['seconds_per_call']:.1f} → {f['seconds_per_call']:.1f} |"
        )
    return "\n".join([*lines, "", f"Command: `{command}`"]) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="letters,bbh:web_of_lies,bbh:sports_understanding")
    parser.add_argument("--split", default="val,test", help="comma-separated: train, val, test")
    parser.add_argument("--train", type=int, default=15)
    parser.add_argument("--val", type=int, default=15)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", default=str(RESULTS / "format_rule"))
    args = parser.parse_args(argv)
    splits = [s for s in args.split.split(",") if s]
    if not splits or any(s not in ("train", "val", "test") for s in splits):
        parser.error(f"--split takes train, val and/or test, got {args.split!r}")
    sizes = {"--train": args.train, "--val": args.val, "--test": args.test, "--seed": args.seed}
    sizes["--max-tokens"] = args.max_tokens
    harness = parse_args(["--data", args.data, *(x for k, v in sizes.items() for x in (k, str(v)))])
    tasks = [load_task(spec, harness) for spec in args.data.split(",") if spec]
    models = build_models(harness, need_editor=False)
    rows = []
    for task in tasks:
        rows.append(measure(task, splits, models))
        print(to_markdown(rows[-1:], "").splitlines()[2], flush=True)
    command = "python -m benchmarks.format_rule " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(to_markdown(rows, command.strip()), encoding="utf-8")
    print(to_markdown(rows, command.strip()))


if __name__ == "__main__":
    main()
