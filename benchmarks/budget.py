"""Does the task model's generation budget decide which edits gain? Two edit-by-edit measurements
of the same samples at two budgets, side by side (no model is run):

    python -m benchmarks.budget benchmarks/results/budget-256 benchmarks/results/budget-512 \\
        --out benchmarks/results/budget

Each measurement is an OUT of `benchmarks.editor_edits` (same test tasks, seeds and pool; rows name
their task model and budget). Per arm, on the samples (task, seed, index) both measured: accepted
edits and held-out gain per edit at each budget, with 95% intervals, and the paired difference
(second minus first); per task, each arm's mean gain at both budgets; and, from the evaluation
caches, the seed prompt's accuracy and how many of its outputs stopped at the limit, and the seed
prompt's paired difference between the budgets over the examples both caches hold. Writes
OUT/budget.{md,json}.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.cutoff import SEED_PROMPT, counts, read_cache
from benchmarks.editor_edits import ARMS, DEFAULT_MAX_TOKENS, by_edit, task_models
from benchmarks.output import command_line, save_tables
from spl_opt.core.records import Playbook
from spl_opt.evaluators.stats import difference_ci, mean_ci, wilson_interval

SAMPLE = ("task", "seed", "index")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.budget", description=__doc__.splitlines()[0])
    p.add_argument("first", help="an OUT of benchmarks.editor_edits (the smaller budget)")
    p.add_argument("second", help="an OUT of the same samples at another budget")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def read_rows(directory: Path) -> list[dict[str, Any]]:
    path = directory / "edits.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist (an OUT of benchmarks.editor_edits)")
    return list(json.loads(path.read_text(encoding="utf-8"))["rows"])


def budget_of(rows: Sequence[dict[str, Any]]) -> int:
    """The task model's generation budget the rows were measured at (one per OUT)."""
    return max((int(r.get("task_max_tokens", DEFAULT_MAX_TOKENS)) for r in rows), default=DEFAULT_MAX_TOKENS)


def gain(row: dict[str, Any]) -> float:
    return float(row["held_gain"] or 0.0)  # an unusable edit gains nothing


def compare(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per arm and per task and arm, the two measurements on the samples both hold."""

    def by_key(rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {(*(r[k] for k in SAMPLE), r["arm"]): r for r in rows}

    a, b = by_key(first), by_key(second)
    shared = sorted(set(a) & set(b), key=str)
    arms = [arm for arm in ARMS if any(k[-1] == arm for k in shared)]
    out: dict[str, Any] = {"arms": {}, "tasks": {}}
    for arm in arms:
        keys = [k for k in shared if k[-1] == arm]
        accepted = [sum(bool(rows[k]["accepted"]) for k in keys) for rows in (a, b)]
        out["arms"][arm] = {
            "samples": len(keys),
            "accepted": accepted,
            "acceptance_ci": [wilson_interval(n, len(keys)) for n in accepted],
            "gain": [mean_ci([gain(rows[k]) for k in keys]) for rows in (a, b)],
            "difference": difference_ci([gain(b[k]) - gain(a[k]) for k in keys]),
            "distinct": len(means := per_edit(a, b, keys)),
            "difference_by_edit": difference_ci(means),
        }
    for task in sorted({k[0] for k in shared}):
        out["tasks"][task] = {
            arm: [
                sum(gain(rows[k]) for k in keys) / len(keys)
                for rows in (a, b)
                if (keys := [k for k in shared if k[0] == task and k[-1] == arm])
            ]
            for arm in arms
        }
    return out


def per_edit(a: dict[Any, dict[str, Any]], b: dict[Any, dict[str, Any]], keys: Sequence[Any]) -> list[float]:
    """The paired differences averaged per distinct pair of edits of a task and seed
    (`benchmarks.editor_edits.by_edit`)."""
    return by_edit(
        [
            ((a[k]["task"], a[k]["seed"], a[k].get("edit"), b[k].get("edit")), gain(b[k]) - gain(a[k]))
            for k in keys
        ]
    )


def seed_results(directory: Path) -> list[dict[str, Any]]:
    """The seed prompt's cached results in `directory` (`benchmarks.cutoff.read_cache` rows)."""
    seed = Playbook(preamble=SEED_PROMPT).id
    return [r for r in read_cache(directory / "eval-cache.jsonl") if r["prompt"] == seed]


def seed_outputs(results: Sequence[dict[str, Any]], limit: int) -> dict[str, dict[str, Any]]:
    """Per task, the seed prompt's outputs: how many, their accuracy, the share cut off at `limit`."""
    out = {}
    for task in sorted({r["task"] for r in results}):
        mine = [r for r in results if r["task"] == task]
        accuracy = sum(r["score"] for r in mine) / len(mine)
        out[task] = {
            "outputs": len(mine),
            "accuracy": accuracy,
            "cut_off": counts(mine, limit)["share_cut_off"],
        }
    return out


def seed_pairs(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]]) -> list[float]:
    """The seed prompt's score in `second` minus in `first`, per example both hold (the same pool
    examples: the samplers are seeded alike)."""
    a, b = ({r["example"]: r["score"] for r in results} for results in (first, second))
    return [b[e] - a[e] for e in sorted(set(a) & set(b))]


def to_markdown(report: dict[str, Any], command: str) -> str:
    def ci(v: Sequence[float]) -> str:
        return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"

    first, second = report["budgets"]
    lines = [
        f"First: {first}. Second: {second}.",
        "",
        "| arm | samples | accepted, first | accepted, second | gain per edit, first [95% CI] "
        "| gain per edit, second [95% CI] | second minus first, paired [95% CI] "
        "| distinct edits | paired, per distinct edit [95% CI] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, s in report["comparison"]["arms"].items():
        lines.append(
            f"| {arm} | {s['samples']} | {s['accepted'][0]} | {s['accepted'][1]} | {ci(s['gain'][0])} "
            f"| {ci(s['gain'][1])} | {ci(s['difference'])} | {s['distinct']} "
            f"| {ci(s['difference_by_edit'])} |"
        )
    arms = list(report["comparison"]["arms"])
    seed = report["seed_difference"]
    lines += [
        "",
        f"The seed prompt itself, second minus first, paired over the {seed['examples']} pool examples both "
        f"caches hold: {ci(seed['difference'])}."
        if seed["examples"]
        else "The seed prompt itself: no pool example is in both caches (is an eval-cache.jsonl missing?).",
        "",
        "Mean held-out gain per edit, per task (first → second):",
        "",
        "| task | seed prompt accuracy | seed outputs cut off | " + " | ".join(arms) + " |",
        "|---|---|---|" + "---|" * len(arms),
    ]
    for task, gains in report["comparison"]["tasks"].items():
        short = task.removeprefix("bbh:")
        seeds = [m.get(short) or m.get(task) for m in report["seed_outputs"]]
        accuracy = " → ".join("–" if s is None else f"{s['accuracy']:.2f}" for s in seeds)
        cut = " → ".join("–" if s is None else f"{s['cut_off']:.2f}" for s in seeds)
        cells = [" → ".join(f"{g:+.2f}" for g in gains[arm]) if gains.get(arm) else "–" for arm in arms]
        lines.append(f"| {task} | {accuracy} | {cut} | " + " | ".join(cells) + " |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    dirs = [Path(args.first), Path(args.second)]
    rows = [read_rows(d) for d in dirs]
    budgets = [", ".join(sorted(task_models(r))) for r in rows]
    seeds = [seed_results(d) for d in dirs]
    both = set.intersection(*({r["example"] for r in s} for s in seeds))
    seeds = [[r for r in s if r["example"] in both] for s in seeds]  # the same examples at each budget
    report = {
        "measurements": [str(d) for d in dirs],
        "budgets": budgets,
        "comparison": compare(*rows),
        "seed_outputs": [seed_outputs(s, budget_of(r)) for s, r in zip(seeds, rows, strict=True)],
        "seed_difference": {"examples": len(pairs := seed_pairs(*seeds)), "difference": difference_ci(pairs)},
    }
    command = command_line("benchmarks.budget", argv)
    save_tables(Path(args.out), "budget", report, to_markdown(report, command))


if __name__ == "__main__":
    main()
