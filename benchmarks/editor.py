"""Does the tuned editor help on tasks it was not tuned on? Leave-tasks-out, untuned against tuned.

    python -m benchmarks.editor --tune-tasks bbh:boolean_expressions,... --test-tasks bbh:web_of_lies,... \\
        --seeds 0,1,2 --budget 60 --tune-budget 60 --out benchmarks/results/editor

1. Tune: `spl-opt tune-editor` on `--tune-tasks` (one search each at `--tune-budget`, then DSPy
   compiles the editor on the measured edit gains and learns operator priors), saved in OUT/editor.
   Kept if it exists (delete it to tune again).
2. Test: on every `--test-tasks` task and seed, one search with the untuned editor and one with the
   tuned one: same task model, data split, budget and seed. Runs are resumable (OUT/runs/...), and
   rows already in OUT/editor.json for the same tuned editor are kept, not run again.
3. Per run, from its journal: LM-editor proposals, the share that passed screening and raised
   validation accuracy (acceptance), validation gain per editor call, the share of the final prompt's
   strategy text the LM editor wrote, the rollouts at which the best validation accuracy reached the
   untuned run's final one, and test accuracy. Written to OUT/editor.json and OUT/editor.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.results import slug
from spl_opt.config import RunConfig, SearchConfig
from spl_opt.engine.result import RunReport
from spl_opt.evaluators.stats import mean_ci
from spl_opt.search.budget import Budget
from spl_opt.tuning.outcomes import EditOutcome, run_outcomes

TUNE = (
    "bbh:boolean_expressions,bbh:causal_judgement,bbh:dyck_languages,bbh:formal_fallacies,"
    "bbh:geometric_shapes,bbh:logical_deduction_three_objects,bbh:logical_deduction_five_objects,"
    "bbh:movie_recommendation,bbh:multistep_arithmetic_two,bbh:reasoning_about_colored_objects,"
    "bbh:tracking_shuffled_objects_three_objects,bbh:word_sorting"
)
TEST = (
    "bbh:object_counting,bbh:sports_understanding,bbh:web_of_lies,bbh:logical_deduction_seven_objects,"
    "bbh:tracking_shuffled_objects_five_objects,bbh:tracking_shuffled_objects_seven_objects,gsm8k,letters"
)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.editor", description=__doc__.splitlines()[0])
    p.add_argument("--tune-tasks", type=_csv, default=_csv(TUNE))
    p.add_argument("--test-tasks", type=_csv, default=_csv(TEST))
    p.add_argument("--seeds", type=lambda v: [int(s) for s in _csv(v)], default=[0, 1, 2])
    p.add_argument("--budget", type=int, default=60, help="rollouts per test search")
    p.add_argument("--tune-budget", type=int, default=60, help="rollouts per tuning search")
    p.add_argument("--train", type=int, default=15)
    p.add_argument("--val", type=int, default=15)
    p.add_argument("--test", type=int, default=30)
    p.add_argument("--minibatch", type=int, default=5)
    p.add_argument("--demos", type=int, default=4)
    p.add_argument("--out", default="benchmarks/results/editor")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the tables from recorded rows and runs",
    )
    return p.parse_args(argv)


def reached_at(history: Sequence[Sequence[float]], accuracy: float) -> int | None:
    """Rollouts at the first history point whose best validation accuracy reaches `accuracy`."""
    return next((int(r) for r, a in history if a >= accuracy - 1e-9), None)


def editor_share(report: RunReport, outcomes: Sequence[EditOutcome]) -> float:
    """The share of the final prompt's strategy text written by the LM editor (0 without strategies)."""
    written = {" ".join(e.text.split()) for o in outcomes if o.needs_lm for e in o.edits if e.text}
    strategies = report.search.best.candidate.playbook.strategies
    total = sum(len(s.text) for s in strategies)
    by_editor = sum(len(s.text) for s in strategies if " ".join(s.text.split()) in written)
    return by_editor / total if total else 0.0


def run_metrics(report: RunReport, outcomes: Sequence[EditOutcome]) -> dict[str, Any]:
    lm = [o for o in outcomes if o.needs_lm]
    raised = [o for o in lm if o.accepted and (o.val_gain or 0) > 0]
    search = report.search
    best_test = report.best_test.objectives.accuracy if report.best_test is not None else None
    return {
        "editor_calls": len(lm),
        "editor_accepted": len(raised),
        "editor_val_gain": sum(o.val_gain or 0 for o in lm if o.accepted),
        "editor_share": editor_share(report, outcomes),
        "final_val": search.best.evaluation.objectives.accuracy,
        "rollouts": search.rollouts,
        "history": [list(p) for p in search.history],
        "test": best_test,
        "test_scores": [r.score for r in report.best_test.results] if report.best_test is not None else [],
        "prompt": search.best.candidate.prompt,
        "operators": {k: list(v) for k, v in search.operator_stats.items()},
    }


def run_path(out: Path, task: str, seed: int, arm: str) -> Path:
    return out / "runs" / arm / f"{slug(task)}-s{seed}"


def run_arm(task: str, seed: int, editor: Path | None, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from spl_opt.engine.runner import run_config

    arm = "tuned" if editor is not None else "untuned"
    config = RunConfig(
        task=task,
        seed=seed,
        n_train=args.train,
        n_val=args.val,
        n_test=args.test,
        budget=Budget(max_rollouts=args.budget),
        search=SearchConfig(minibatch_size=args.minibatch),
        editor=str(editor) if editor is not None else None,
        run_dir=str(run_path(out, task, seed, arm)),
        quiet=True,
    )
    start = time.monotonic()
    report, run_dir = run_config(config, echo=False)
    return {
        "task": task,
        "seed": seed,
        "arm": arm,
        "commit": _commit(),
        "seconds": round(time.monotonic() - start, 1),
        **run_metrics(report, run_outcomes(run_dir)),
    }


def _commit() -> str:
    """The code a row was measured on (rows of several invocations may sit in one table)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: acceptance, gain per editor call, editor share, test accuracy; per pair: rollouts ratio."""
    out: dict[str, Any] = {}
    for arm in ("untuned", "tuned"):
        mine = [r for r in rows if r["arm"] == arm]
        calls = sum(r["editor_calls"] for r in mine)
        tests = [s for r in mine for s in r["test_scores"]]
        out[arm] = {
            "runs": len(mine),
            "editor_calls": calls,
            "acceptance": sum(r["editor_accepted"] for r in mine) / calls if calls else None,
            "val_gain_per_call": sum(r["editor_val_gain"] for r in mine) / calls if calls else None,
            "editor_share": sum(r["editor_share"] for r in mine) / len(mine) if mine else None,
            "test": list(mean_ci(tests)) if tests else None,
            "final_val": sum(r["final_val"] for r in mine) / len(mine) if mine else None,
        }
    ratios = []
    for r in (r for r in rows if r["arm"] == "untuned"):
        tuned = next(
            (t for t in rows if t["arm"] == "tuned" and (t["task"], t["seed"]) == (r["task"], r["seed"])),
            None,
        )
        if tuned is None:
            continue
        base = reached_at(r["history"], r["final_val"])
        at = reached_at(tuned["history"], r["final_val"])
        ratios.append(None if at is None or not base else at / base)
    reached = [x for x in ratios if x is not None]
    out["rollouts_ratio"] = {
        "pairs": len(ratios),
        "reached": len(reached),
        "mean": sum(reached) / len(reached) if reached else None,
    }
    return out


def to_markdown(
    rows: Sequence[dict[str, Any]], summary: dict[str, Any], manifest: dict[str, Any], command: str
) -> str:
    def f(v: Any, d: int = 2) -> str:
        return "–" if v is None else f"{v:.{d}f}"

    lines = [
        "| task | seed | arm | editor calls | accepted+raised val | editor share | final val | test "
        "| rollouts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['seed']} | {r['arm']} | {r['editor_calls']} | {r['editor_accepted']} "
            f"| {f(r['editor_share'])} | {f(r['final_val'])} | {f(r['test'])} | {r['rollouts']} |"
        )
    lines += [
        "",
        "| arm | runs | editor calls | acceptance | val gain / call | editor share | test [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ("untuned", "tuned"):
        s = summary[arm]
        test = "–" if s["test"] is None else f"{s['test'][0]:.3f} [{s['test'][1]:.3f}, {s['test'][2]:.3f}]"
        lines.append(
            f"| {arm} | {s['runs']} | {s['editor_calls']} | {f(s['acceptance'])} "
            f"| {f(s['val_gain_per_call'], 3)} "
            f"| {f(s['editor_share'])} | {test} |"
        )
    ratio = summary["rollouts_ratio"]
    kinds = summary.get("kinds", {})
    if any(kinds.values()):
        lines += [
            "",
            "| arm | kind asked | LM proposals | usable edit | passed screening | raised validation |",
            "|---|---|---|---|---|---|",
        ]
        for arm, table in kinds.items():
            for kind, k in table.items():
                lines.append(
                    f"| {arm} | {kind} | {k['asked']} | {k['usable']} | {k['passed']} | {k['raised']} |"
                )
    lines += [
        "",
        f"Rollouts for the tuned run to reach the untuned run's final validation accuracy, over the "
        f"rollouts the untuned run took: mean {f(ratio['mean'])} over {ratio['reached']} of {ratio['pairs']} "
        "pairs that reached it.",
        "",
        f"Tuned editor: {manifest.get('demos')} demonstrations; tuned on "
        f"{', '.join(manifest.get('tasks', []))}; priors {json.dumps(manifest.get('priors'))}; "
        f"held-out edit measurement {json.dumps(manifest.get('measured'))}.",
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def kind_stats(run_dirs: Sequence[Path]) -> dict[str, dict[str, int]]:
    """Per kind of edit the policy asked the LM editor for ("any": it chose), over `run_dirs`: its
    proposals, those with a usable edit, those that passed screening, and those that raised validation."""
    stats: dict[str, dict[str, int]] = {}
    for run_dir in run_dirs:
        for o in run_outcomes(run_dir) if (run_dir / "journal.jsonl").is_file() else ():
            if not o.needs_lm or o.evidence is None:
                continue
            s = stats.setdefault(
                o.evidence.kind or "any", dict.fromkeys(("asked", "usable", "passed", "raised"), 0)
            )
            s["asked"] += 1
            s["usable"] += bool(o.edits)
            s["passed"] += bool(o.accepted)
            s["raised"] += bool(o.accepted and (o.val_gain or 0) > 0)
    return dict(sorted(stats.items()))


def write_results(out: Path, rows: list[dict[str, Any]], manifest: dict[str, Any], command: str) -> None:
    """OUT/editor.json and OUT/editor.md from the rows, with the edit-kind table of their runs (those
    still under OUT/runs: run directories are not committed)."""
    summary = summarize(rows)
    summary["kinds"] = {
        arm: kind_stats([run_path(out, r["task"], r["seed"], arm) for r in rows if r["arm"] == arm])
        for arm in ("untuned", "tuned")
    }
    record = {"summary": summary, "rows": rows, "manifest": manifest}
    (out / "editor.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "editor.md").write_text(to_markdown(rows, summary, manifest, command))


def recorded_rows(path: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of an earlier invocation with the same tuned editor (its run directories may be gone:
    they are not committed), so a benchmark can be extended with tasks or seeds without rerunning."""
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text(encoding="utf-8"))
    return list(earlier["rows"]) if earlier.get("manifest") == manifest else []


def main(argv: Sequence[str] | None = None) -> None:
    from spl_opt.editor.artifact import MANIFEST_FILE
    from spl_opt.tuning.pipeline import tune_from_tasks

    args = parse_args(argv)
    out = Path(args.out)
    overlap = set(args.tune_tasks) & set(args.test_tasks)
    if overlap:
        raise SystemExit(f"error: tasks both tuned on and tested on: {sorted(overlap)}")
    editor = out / "editor"
    if not (editor / MANIFEST_FILE).is_file():
        tune_from_tasks(
            tasks=args.tune_tasks,
            out=editor,
            budget=args.tune_budget,
            demos=args.demos,
            n_train=args.train,
            n_val=args.val,
        )
    manifest = json.loads((editor / MANIFEST_FILE).read_text(encoding="utf-8"))
    print(f"tuned editor: {manifest['demos']} demos, measured {json.dumps(manifest['measured'])}", flush=True)
    rows = recorded_rows(out / "editor.json", manifest)
    command = "python -m benchmarks.editor " + " ".join(sys.argv[1:] if argv is None else argv)
    seeds = () if args.report_only else args.seeds
    for seed in seeds:  # seed-major: a run stopped early has every task at its first seeds
        for task in args.test_tasks:
            for arm_editor in (None, editor):
                arm = "tuned" if arm_editor is not None else "untuned"
                if any((r["task"], r["seed"], r["arm"]) == (task, seed, arm) for r in rows):
                    continue
                row = run_arm(task, seed, arm_editor, args, out)
                rows.append(row)
                print(
                    f"[{task} s{seed} {row['arm']}] editor calls {row['editor_calls']}, accepted+raised "
                    f"{row['editor_accepted']}, final val {row['final_val']:.2f}, test {row['test']}, "
                    f"{row['seconds']:.0f} s",
                    flush=True,
                )
                write_results(out, rows, manifest, command)
    write_results(out, rows, manifest, command)
    print((out / "editor.md").read_text())


if __name__ == "__main__":
    main()
