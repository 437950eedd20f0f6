"""Edit by edit, on tasks the editor was not tuned on: does the tuned editor write edits that gain?

    python -m benchmarks.editor_edits --editor benchmarks/results/editor-v3/editor \\
        --test-tasks bbh:object_counting,... --seeds 0,1 --samples 2 --out benchmarks/results/editor-v3

A search at a small budget calls its LM editor once or twice, so search-level numbers
(`benchmarks/editor.py`) say little about the editor itself. Here, for every test task and seed, an
`EditSampler` (a pool of training examples; minibatches of it as evidence; the task's seed playbook
as parent) asks the untuned and the tuned editor for an edit on the *same* evidence, and measures
each child against the parent on the pool's examples the editor was not shown. Per editor: usable
edits, acceptance (the child beat the parent on the shown minibatch, as in screening, and gained on
the held-out examples), mean held-out gain per call with a 95% interval, and the paired difference,
tuned minus untuned, with its interval. Rows are appended to OUT/edits.json as they are measured; a
rerun skips rows it has (same tuned editor). Tables in OUT/edits.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.editor import TEST, _commit, _csv
from spl_opt.evaluators.stats import mean_ci
from spl_opt.tuning.outcomes import EditOutcome

ARMS = ("untuned", "tuned")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.editor_edits", description=__doc__.splitlines()[0])
    p.add_argument("--editor", required=True, help="the tuned editor's directory")
    p.add_argument("--test-tasks", type=_csv, default=_csv(TEST))
    p.add_argument("--seeds", type=lambda v: [int(s) for s in _csv(v)], default=[0, 1])
    p.add_argument("--samples", type=int, default=2, help="edits per task, seed and editor")
    p.add_argument("--pool", type=int, default=12)
    p.add_argument("--minibatch", type=int, default=4)
    p.add_argument("--train", type=int, default=15)
    p.add_argument("--out", required=True)
    p.add_argument("--report-only", action="store_true", help="run nothing: rewrite the tables")
    return p.parse_args(argv)


def row_of(outcome: EditOutcome, arm: str, seed: int) -> dict[str, Any]:
    edit = outcome.edits[0] if outcome.edits else None
    return {
        "task": outcome.task,
        "seed": seed,
        "index": outcome.iteration,
        "arm": arm,
        "kind": outcome.evidence.kind if outcome.evidence is not None else "",
        "usable": edit is not None,
        "shown_gain": outcome.gain,
        "held_gain": outcome.val_gain,
        "accepted": bool(outcome.accepted and (outcome.val_gain or 0) > 0),
        "edit": f"{edit.op}: {edit.text}" if edit is not None else (outcome.error or "")[:200],
        "commit": _commit(),
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: usable share, acceptance, held-out gain per call; and the paired difference."""
    out: dict[str, Any] = {}
    for arm in ARMS:
        mine = [r for r in rows if r["arm"] == arm]
        gains = [r["held_gain"] or 0.0 for r in mine]  # an unusable edit gains nothing
        out[arm] = {
            "calls": len(mine),
            "usable": sum(r["usable"] for r in mine) / len(mine) if mine else None,
            "passed_shown": sum((r["shown_gain"] or 0) > 0 for r in mine) / len(mine) if mine else None,
            "acceptance": list(mean_ci([float(r["accepted"]) for r in mine])) if mine else None,
            "held_gain": list(mean_ci(gains)) if mine else None,
        }
    key = ("task", "seed", "index")
    tuned = {tuple(r[k] for k in key): r for r in rows if r["arm"] == "tuned"}
    diffs = [
        (tuned[k]["held_gain"] or 0.0) - (r["held_gain"] or 0.0)
        for r in rows
        if r["arm"] == "untuned" and (k := tuple(r[k] for k in key)) in tuned
    ]
    out["paired"] = {"pairs": len(diffs), "tuned_minus_untuned": list(mean_ci(diffs)) if diffs else None}
    untuned, mine = out["untuned"]["acceptance"], out["tuned"]["acceptance"]
    out["acceptance_ratio"] = mine[0] / untuned[0] if untuned and mine and untuned[0] else None
    return out


def to_markdown(rows: Sequence[dict[str, Any]], summary: dict[str, Any], command: str) -> str:
    def ci(v: list[float] | None, d: int = 3) -> str:
        return "–" if v is None else f"{v[0]:+.{d}f} [{v[1]:+.{d}f}, {v[2]:+.{d}f}]"

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:+.2f}"

    lines = [
        "| arm | edits | usable | beat parent on shown | accepted (shown and held out) [95% CI] "
        "| held-out gain per call [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        s = summary[arm]
        if not s["calls"]:
            continue
        lines.append(
            f"| {arm} | {s['calls']} | {s['usable']:.2f} | {s['passed_shown']:.2f} "
            f"| {ci(s['acceptance'], 2)} | {ci(s['held_gain'])} |"
        )
    paired = summary["paired"]
    ratio = summary["acceptance_ratio"]
    lines += [
        "",
        f"Paired, tuned minus untuned held-out gain: {ci(paired['tuned_minus_untuned'])} over "
        f"{paired['pairs']} pairs; acceptance ratio tuned / untuned: "
        f"{'–' if ratio is None else f'{ratio:.2f}'}.",
        "",
        "| task | seed | # | kind | arm | shown gain | held-out gain | edit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        text = " ".join(str(r["edit"]).split()).replace("|", "/")[:160]
        lines.append(
            f"| {r['task']} | {r['seed']} | {r['index']} | {r['kind'] or 'any'} | {r['arm']} "
            f"| {f(r['shown_gain'])} | {f(r['held_gain'])} | {text} |"
        )
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict[str, Any]], manifest: dict[str, Any], command: str) -> None:
    summary = summarize(rows)
    record = {"summary": summary, "rows": rows, "manifest": manifest, "command": command}
    (out / "edits.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "edits.md").write_text(to_markdown(rows, summary, command))


KEY = ("task", "seed", "index", "arm")


def measure(sampler: Any, editor: Any, arm: str, seed: int, index: int) -> dict[str, Any] | None:
    """One edit by `editor` on sample `index`, measured; None when the parent failed nothing shown."""
    start = time.monotonic()
    outcome = sampler.propose(editor, index, run=f"{arm}-s{seed}")
    if outcome is None:
        return None
    row = row_of(outcome, arm, seed)
    print(
        f"[{outcome.task} s{seed} #{index} {arm}] shown {row['shown_gain']}, held out {row['held_gain']}, "
        f"{time.monotonic() - start:.0f} s: {row['edit'][:100]}",
        flush=True,
    )
    return row


def main(argv: Sequence[str] | None = None) -> None:
    from spl_opt.config import RunConfig
    from spl_opt.editor.artifact import MANIFEST_FILE, load_editor_module
    from spl_opt.editor.dspy_editor import DSPyEditor
    from spl_opt.engine.runner import task_of
    from spl_opt.evaluators.cache import EvalCache
    from spl_opt.lm.config import build_lm
    from spl_opt.tuning.sampling import EditSampler

    args = parse_args(argv)
    out, editor_dir = Path(args.out), Path(args.editor)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((editor_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    overlap = set(manifest.get("tasks", ())) & set(args.test_tasks)
    if overlap:
        raise SystemExit(f"error: the editor was tuned on test tasks {sorted(overlap)}")
    path = out / "edits.json"
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    rows: list[dict[str, Any]] = list(earlier.get("rows", [])) if earlier.get("manifest") == manifest else []
    command = "python -m benchmarks.editor_edits " + " ".join(sys.argv[1:] if argv is None else argv)
    if not args.report_only:
        base = RunConfig(n_train=args.train, n_val=1, n_test=1)
        task_lm, editor_lm = build_lm(base.task_lm), build_lm(base.editor_lm)
        tuned = DSPyEditor(editor_lm, load_editor_module(editor_dir))
        editors = {"untuned": DSPyEditor(editor_lm), "tuned": tuned}
        cache = EvalCache(out / "eval-cache.jsonl")
        for seed in args.seeds:
            for name in args.test_tasks:
                task = task_of(base.model_copy(update={"task": name, "seed": seed}))
                sampler = EditSampler(
                    task, task_lm, pool=args.pool, minibatch=args.minibatch, seed=seed, cache=cache
                )
                for index in range(args.samples):
                    for arm in ARMS:
                        if (name, seed, index, arm) in {tuple(r[k] for k in KEY) for r in rows}:
                            continue
                        row = measure(sampler, editors[arm], arm, seed, index)
                        if row is None:
                            print(f"[{name} s{seed} #{index}] the parent failed nothing shown", flush=True)
                            break
                        rows.append(row)
                        write(out, rows, manifest, command)
    write(out, rows, manifest, command)
    print((out / "edits.md").read_text())


if __name__ == "__main__":
    main()
