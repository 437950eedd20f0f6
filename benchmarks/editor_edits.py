"""Edit by edit, on tasks the editor was not tuned on: does the tuned editor write edits that gain?

    python -m benchmarks.editor_edits --editor benchmarks/results/editor-v3/editor \\
        --test-tasks bbh:object_counting,... --seeds 0,1 --samples 2 --out benchmarks/results/editor-v3

A search at a small budget calls its LM editor once or twice, so search-level numbers
(`benchmarks/editor.py`) say little about the editor itself. Here, for every test task and seed, an
`EditSampler` (a pool of training examples; minibatches of it as evidence; the task's seed playbook
as parent) asks each arm for an edit on the *same* evidence, and measures each child against the
parent on the pool's examples the arm was not shown. Arms (`--arms`): the untuned and the tuned LM
editor, the untuned editor asked for a worked solution of a failure (`example`: its edit kind
"example", `spl_opt.editor.solutions`), the operators that need no LM (answer-format,
worked-example), a strategy written by hand for each task before it was measured (`written`, from
`--written FILE`: what a far stronger editor's strategy does for this task model, the ceiling of
the LM editor's kind of edit; `written+format`: the same strategy followed by the answer-format
rule, to tell what the strategy adds from what it does to the answer's form), and a placebo that adds
a note saying nothing about the task (the noise floor: how much any change to the prompt moves the
score).
Per arm: usable edits, acceptance (the child beat the parent on the shown minibatch, as in
screening, and gained on the held-out examples), mean held-out gain per call with a 95% interval,
and the paired difference to the untuned editor with its interval. One more arm, "tuned, guarded",
is computed from the tuned rows, not rerun: an edit that copies a demonstration of another task is
unusable under `DSPyEditor`'s guard (one attempt per sample: it gains nothing), exactly as if it had
run with the guard. Rows are appended to OUT/edits.json as they are measured; a rerun skips rows it
has (same tuned editor), so arms can be added by a later invocation. Tables in OUT/edits.md.
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
from spl_opt.core.records import Proposal
from spl_opt.evaluators.stats import difference_ci, mean_ci
from spl_opt.tuning.outcomes import EditOutcome

LM_ARMS = ("untuned", "tuned")
GUARDED = "tuned, guarded"  # the tuned editor's rows as the demo-copy guard reads them (not rerun)
EXAMPLE = "example"  # the untuned editor asked for a worked solution
WRITTEN = "written"  # a strategy given per task (--written), written by a stronger author
WRITTEN_FORMAT = "written+format"  # that strategy, then the answer-format operator's rule
ARMS = (*LM_ARMS, GUARDED, EXAMPLE, WRITTEN, WRITTEN_FORMAT, "answer-format", "worked-example", "placebo")
KEY = ("task", "seed", "index", "arm")
DEFAULT_TASK_LM = "embedded:qwen-0.5b"  # rows without a task_lm were measured on it
DEFAULT_MAX_TOKENS = 256  # the task model's generation budget of rows without task_max_tokens


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.editor_edits", description=__doc__.splitlines()[0])
    p.add_argument("--editor", required=True, help="the tuned editor's directory")
    p.add_argument("--test-tasks", type=_csv, default=_csv(TEST))
    p.add_argument("--seeds", type=lambda v: [int(s) for s in _csv(v)], default=[0, 1])
    p.add_argument("--samples", type=int, default=2, help="edits per task, seed and arm")
    p.add_argument(
        "--arms", type=_csv, default=list(LM_ARMS), help=f"of {', '.join(a for a in ARMS if a != GUARDED)}"
    )
    p.add_argument("--pool", type=int, default=12)
    p.add_argument("--minibatch", type=int, default=4)
    p.add_argument("--train", type=int, default=15)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--reuse",
        help="an earlier measurement's OUT (same test tasks, seeds and pool): its rows of the arms that do "
        "not depend on the tuned editor are taken as they are; copy its eval-cache.jsonl too, so parents "
        "are scored by the same results",
    )
    p.add_argument(
        "--written",
        help='for the arm "written": a JSON file {"strategies": {task: text}} (benchmarks/strategies/)',
    )
    p.add_argument(
        "--task-lm",
        default=DEFAULT_TASK_LM,
        help="the task model (rows record it; an OUT holds the rows of one task model)",
    )
    p.add_argument(
        "--task-max-tokens",
        type=_positive,
        default=DEFAULT_MAX_TOKENS,
        help="the task model's generation budget per answer (rows record it; one per OUT)",
    )
    p.add_argument("--report-only", action="store_true", help="run nothing: rewrite the tables")
    return p.parse_args(argv)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of tokens, not {value}")
    return number


class Asking:
    """`operator` asked for edits of one `kind`, whatever the sample asks for."""

    def __init__(self, operator: Any, kind: str) -> None:
        self.operator, self.kind = operator, kind
        self.name, self.needs_lm = operator.name, operator.needs_lm

    def applies(self, parent: Any, evidence: Any) -> bool:
        return bool(self.operator.applies(parent, evidence))

    def propose(self, parent: Any, evidence: Any, n: int = 1) -> Any:
        return self.operator.propose(parent, evidence.model_copy(update={"kind": self.kind}), n)


class Together:
    """The edits of two operators in one proposal (an error if either has none)."""

    def __init__(self, name: str, *operators: Any) -> None:
        self.name, self.operators = name, operators
        self.needs_lm = any(o.needs_lm for o in operators)

    def applies(self, parent: Any, evidence: Any) -> bool:
        return all(o.applies(parent, evidence) for o in self.operators)

    def propose(self, parent: Any, evidence: Any, n: int = 1) -> Proposal:
        proposals = [o.propose(parent, evidence, 1) for o in self.operators]
        failed = [p for p in proposals if not p.edits]
        if failed:
            return Proposal(editor_id=self.name, error=failed[0].error or "no edit")
        return Proposal(editor_id=self.name, edits=tuple(e for p in proposals for e in p.edits))


def row_of(outcome: EditOutcome, arm: str, seed: int) -> dict[str, Any]:
    text = " + ".join(f"{e.op}: {e.text}" for e in outcome.edits)
    return {
        "task": outcome.task,
        "seed": seed,
        "index": outcome.iteration,
        "arm": arm,
        "kind": outcome.evidence.kind if outcome.evidence is not None else "",
        "usable": bool(outcome.edits),
        "shown_gain": outcome.gain,
        "held_gain": outcome.val_gain,
        "accepted": bool(outcome.accepted and (outcome.val_gain or 0) > 0),
        "edit": text or (outcome.error or "")[:200],
        "commit": _commit(),
    }


def guarded(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tuned rows as the demo-copy guard reads them: a copy of another task's demo is unusable."""
    return [
        {**r, "arm": GUARDED, "usable": False, "shown_gain": None, "held_gain": None, "accepted": False}
        if r.get("copies_demo")
        else {**r, "arm": GUARDED}
        for r in rows
        if r["arm"] == "tuned"
    ]


def mark_copies(rows: Sequence[dict[str, Any]], editor: Any, evidence_of: Any) -> None:
    """Mark each tuned row whose edit copies a demonstration `editor` holds from another task
    (`evidence_of(task)`: an `Evidence` of the task's examples, to tell own demos from others')."""
    from spl_opt.editor.dspy_editor import evidence_inputs
    from spl_opt.editor.hygiene import copies_foreign

    seen: dict[str, tuple[list[tuple[str, str]], str]] = {}  # per task: its foreign demos, its inputs
    for r in rows:
        if r["arm"] != "tuned":
            continue
        if r["task"] not in seen:
            evidence = evidence_of(r["task"])
            seen[r["task"]] = editor.foreign_demos(evidence), evidence_inputs(evidence)
        foreign, here = seen[r["task"]]
        text = str(r["edit"]).split(": ", 1)[-1] if r["usable"] else ""
        r["copies_demo"] = bool(text) and copies_foreign(text, foreign, here) is not None


def _pairs(
    rows: Sequence[dict[str, Any]], arm: str, base: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(row of `arm`, row of `base`) for each sample both measured."""
    key = ("task", "seed", "index")
    mine = {tuple(r[k] for k in key): r for r in rows if r["arm"] == arm}
    return [
        (m, r) for r in rows if r["arm"] == base and (m := mine.get(tuple(r[k] for k in key))) is not None
    ]


def _paired(rows: Sequence[dict[str, Any]], arm: str, base: str = "untuned") -> list[float]:
    return [(m["held_gain"] or 0.0) - (r["held_gain"] or 0.0) for m, r in _pairs(rows, arm, base)]


def by_edit(values: Sequence[tuple[tuple[Any, ...], float]]) -> list[float]:
    """The mean value per distinct key: one per distinct edit (or pair of edits) of a task and seed.

    An operator that needs no LM writes the same edit for every sample of a task and seed; its samples
    differ only in which pool examples are held out, so they are not independent measurements."""
    groups: dict[tuple[Any, ...], list[float]] = {}
    for key, value in values:
        groups.setdefault(key, []).append(value)
    return [sum(v) / len(v) for v in groups.values()]


def _edit_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["task"], row["seed"], row["edit"]


def _paired_by_edit(rows: Sequence[dict[str, Any]], arm: str, base: str) -> list[float]:
    return by_edit(
        [
            ((*_edit_key(m), r["edit"]), (m["held_gain"] or 0.0) - (r["held_gain"] or 0.0))
            for m, r in _pairs(rows, arm, base)
        ]
    )


def kinds_followed(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per kind of edit asked of an LM editor ("any": it chooses), how many of its edits were of that
    kind, of another kind, or unusable."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["arm"] not in LM_ARMS:
            continue
        asked = r["kind"] or "any"
        op = str(r["edit"]).split(":", 1)[0] if r["usable"] else "unusable"
        counts = out.setdefault(asked, {"asked": 0, "followed": 0, "other": 0, "unusable": 0})
        counts["asked"] += 1
        counts["unusable" if op == "unusable" else "followed" if asked in ("any", op) else "other"] += 1
    return out


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: usable share, acceptance, held-out gain per call, and the paired difference to the
    untuned editor (an unusable edit gains nothing)."""
    rows = [*rows, *guarded(rows)]
    arms = [a for a in ARMS if any(r["arm"] == a for r in rows)]
    out: dict[str, Any] = {"arms": {}}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        diffs = _paired(rows, arm) if arm != "untuned" else []
        placebo = _paired(rows, arm, "placebo") if arm != "placebo" else []
        out["arms"][arm] = {
            "calls": len(mine),
            "usable": sum(r["usable"] for r in mine) / len(mine),
            "passed_shown": sum((r["shown_gain"] or 0) > 0 for r in mine) / len(mine),
            "acceptance": list(mean_ci([float(r["accepted"]) for r in mine])),
            "held_gain": list(difference_ci([r["held_gain"] or 0.0 for r in mine])),
            "pairs": len(diffs),
            "minus_untuned": list(difference_ci(diffs)) if diffs else None,
            "minus_placebo": list(difference_ci(placebo)) if placebo else None,
            "distinct_edits": len(means := by_edit([(_edit_key(r), r["held_gain"] or 0.0) for r in mine])),
            "held_gain_by_edit": list(difference_ci(means)),
            "minus_placebo_by_edit": list(difference_ci(p))
            if arm != "placebo" and (p := _paired_by_edit(rows, arm, "placebo"))
            else None,
        }
    added = _paired(rows, WRITTEN_FORMAT, "answer-format")
    out["strategy_added"] = list(difference_ci(added)) if added else None  # to the answer-format rule
    out["kinds"] = kinds_followed(rows)
    out["copies_demo"] = sum(bool(r.get("copies_demo")) for r in rows if r["arm"] == "tuned")
    untuned, tuned = out["arms"].get("untuned"), out["arms"].get("tuned")
    ok = untuned and tuned and untuned["acceptance"][0]
    out["acceptance_ratio"] = tuned["acceptance"][0] / untuned["acceptance"][0] if ok else None
    return out


def to_markdown(rows: Sequence[dict[str, Any]], summary: dict[str, Any], commands: Sequence[str]) -> str:
    def ci(v: list[float] | None, d: int = 3) -> str:
        return "–" if v is None else f"{v[0]:+.{d}f} [{v[1]:+.{d}f}, {v[2]:+.{d}f}]"

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:+.2f}"

    lines = [
        f"Task model: {', '.join(sorted(task_models(rows)))}.",
        "",
        "| arm | edits | usable | beat parent on shown | accepted (shown and held out) [95% CI] "
        "| held-out gain per call [95% CI] | paired minus untuned [95% CI] | paired minus placebo [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, s in summary["arms"].items():
        lines.append(
            f"| {arm} | {s['calls']} | {s['usable']:.2f} | {s['passed_shown']:.2f} "
            f"| {ci(s['acceptance'], 2)} | {ci(s['held_gain'])} | {ci(s['minus_untuned'])} "
            f"| {ci(s['minus_placebo'])} |"
        )
    lines += [
        "",
        "The same per distinct edit of a task and seed (an operator that needs no LM writes one edit per "
        "task and seed, so its samples of it are not independent):",
        "",
        "| arm | distinct edits | held-out gain per distinct edit [95% CI] | paired minus placebo [95% CI] |",
        "|---|---|---|---|",
    ]
    for arm, s in summary["arms"].items():
        lines.append(
            f"| {arm} | {s['distinct_edits']} | {ci(s['held_gain_by_edit'])} "
            f"| {ci(s['minus_placebo_by_edit'])} |"
        )
    ratio = summary["acceptance_ratio"]
    tuned = summary["arms"].get("tuned", {}).get("calls", 0)
    lines += [
        "",
        f"Acceptance ratio tuned / untuned: {'–' if ratio is None else f'{ratio:.2f}'}. Tuned edits that "
        f"copy another task's demonstration: {summary['copies_demo']} of {tuned}.",
        "",
        "What the written strategy adds to the answer-format rule on the same samples (written+format "
        f"minus answer-format, paired): {ci(summary.get('strategy_added'))}.",
        "",
        "Kinds of edit asked of the LM editors, and what they wrote: "
        + "; ".join(
            f"{kind}: {c['asked']} asked, {c['followed']} of that kind, {c['other']} of another, "
            f"{c['unusable']} unusable"
            for kind, c in summary["kinds"].items()
        )
        + ".",
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
    lines += ["", "Commands (rows of each run name their commit):", *(f"- `{c}`" for c in commands)]
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict[str, Any]], manifest: dict[str, Any], commands: list[str]) -> None:
    summary = summarize(rows)
    record = {"summary": summary, "rows": rows, "manifest": manifest, "commands": commands}
    (out / "edits.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "edits.md").write_text(to_markdown(rows, summary, commands))


def task_model(model: str, max_tokens: int) -> str:
    """How rows name their task model: the model, and its generation budget unless it is the default."""
    return model if max_tokens == DEFAULT_MAX_TOKENS else f"{model} (max_tokens {max_tokens})"


def task_models(rows: Sequence[dict[str, Any]]) -> set[str]:
    return {
        task_model(str(r.get("task_lm", DEFAULT_TASK_LM)), int(r.get("task_max_tokens", DEFAULT_MAX_TOKENS)))
        for r in rows
    }


def reused(earlier: Path, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of `earlier`/edits.json whose arm does not depend on the tuned editor and that `rows`
    lack, each marked with where it came from."""
    have = {tuple(r[k] for k in KEY) for r in rows}
    record = json.loads((earlier / "edits.json").read_text(encoding="utf-8"))
    return [
        {**r, "reused_from": str(earlier)}
        for r in record["rows"]
        if r["arm"] not in ("tuned", GUARDED) and tuple(r[k] for k in KEY) not in have
    ]


def written_strategies(path: str | None, tasks: Sequence[str]) -> dict[str, str]:
    """The strategy `path` gives each of `tasks`; a clear error when the file or a task is missing."""
    if not path:
        raise SystemExit('error: the arm "written" needs --written FILE')
    strategies = json.loads(Path(path).read_text(encoding="utf-8")).get("strategies", {})
    missing = [t for t in tasks if not str(strategies.get(t, "")).strip()]
    if missing:
        raise SystemExit(f"error: {path} gives no strategy for {', '.join(missing)}")
    return {t: str(strategies[t]) for t in tasks}


def measure(sampler: Any, editor: Any, arm: str, seed: int, index: int) -> dict[str, Any] | None:
    """One edit by `editor` on sample `index`, measured; None when the parent failed nothing shown."""
    start = time.monotonic()
    outcome = sampler.propose(editor, index, run=f"{arm}-s{seed}")
    if outcome is None:
        return None
    row = row_of(outcome, arm, seed)
    if isinstance(editor, Asking):
        row["kind"] = editor.kind
    print(
        f"[{outcome.task} s{seed} #{index} {arm}] shown {row['shown_gain']}, held out {row['held_gain']}, "
        f"{time.monotonic() - start:.0f} s: {row['edit'][:100]}",
        flush=True,
    )
    return row


def main(argv: Sequence[str] | None = None) -> None:
    from spl_opt.config import RunConfig
    from spl_opt.core.protocols import Evidence, EvidenceItem
    from spl_opt.editor.artifact import MANIFEST_FILE, load_editor_module
    from spl_opt.editor.dspy_editor import DSPyEditor
    from spl_opt.editor.operators import NoteOperator, PlaceboOperator
    from spl_opt.editor.solutions import KIND
    from spl_opt.engine.runner import default_operators, task_of
    from spl_opt.evaluators.cache import EvalCache
    from spl_opt.lm.config import LMConfig, build_lm
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
    if args.reuse:
        rows += [r for r in reused(Path(args.reuse), rows) if r["task"] in args.test_tasks]
    command = "python -m benchmarks.editor_edits " + " ".join(sys.argv[1:] if argv is None else argv)
    kept: list[str] = earlier.get("commands", []) if rows else []
    commands = kept if args.report_only or command in kept else [*kept, command]  # the measuring ones
    others = task_models(rows) - {task_model(args.task_lm, args.task_max_tokens)}
    if others and not args.report_only:
        raise SystemExit(f"error: {path} holds rows of task model {sorted(others)}; give another --out")
    base = RunConfig(
        n_train=args.train,
        n_val=1,
        n_test=1,
        task_lm=LMConfig(model=args.task_lm, max_tokens=args.task_max_tokens),
    )

    def evidence_of(name: str) -> Evidence:
        task = task_of(base.model_copy(update={"task": name}))
        items = [
            EvidenceItem(input=e.input_text(), target=e.target, output="", feedback="", score=0.0)
            for e in task.train[: args.pool]
        ]
        return Evidence(failures=tuple(items))

    if not args.report_only:
        unknown = set(args.arms) - (set(ARMS) - {GUARDED})
        if unknown:
            raise SystemExit(f"error: unknown arms {sorted(unknown)}; known: {', '.join(ARMS)}")
        with_note = {WRITTEN, WRITTEN_FORMAT} & set(args.arms)
        written = written_strategies(args.written, args.test_tasks) if with_note else {}
        task_lm = build_lm(base.task_lm)
        editors: dict[str, Any] = {}
        if set(args.arms) & {*LM_ARMS, EXAMPLE}:
            editor_lm = build_lm(base.editor_lm)
            editors = {
                "untuned": DSPyEditor(editor_lm),
                "tuned": DSPyEditor(editor_lm, load_editor_module(editor_dir)),
                EXAMPLE: Asking(DSPyEditor(editor_lm), KIND),
            }
        cache = EvalCache(out / "eval-cache.jsonl")
        for seed in args.seeds:
            for name in args.test_tasks:
                task = task_of(base.model_copy(update={"task": name, "seed": seed}))
                sampler = EditSampler(
                    task, task_lm, pool=args.pool, minibatch=args.minibatch, seed=seed, cache=cache
                )
                operators = {**default_operators(None, task.train), "placebo": PlaceboOperator(), **editors}
                if name in written:
                    operators[WRITTEN] = NoteOperator(written[name], title="Strategy", name=WRITTEN)
                    operators[WRITTEN_FORMAT] = Together(
                        WRITTEN_FORMAT, operators[WRITTEN], operators["answer-format"]
                    )
                for index in range(args.samples):
                    for arm in args.arms:
                        if (name, seed, index, arm) in {tuple(r[k] for k in KEY) for r in rows}:
                            continue
                        row = measure(sampler, operators[arm], arm, seed, index)
                        if row is None:
                            print(f"[{name} s{seed} #{index}] the parent failed nothing shown", flush=True)
                            break
                        rows.append({**row, "task_lm": args.task_lm, "task_max_tokens": args.task_max_tokens})
                        write(out, rows, manifest, commands)
    mark_copies(rows, DSPyEditor(None, load_editor_module(editor_dir)), evidence_of)
    write(out, rows, manifest, commands)
    print((out / "edits.md").read_text())


if __name__ == "__main__":
    main()
