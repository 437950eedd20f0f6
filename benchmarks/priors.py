"""Do the operator priors learned by `spl-opt tune-editor` predict outcomes on tasks they were not
learned on? Offline: no model runs, only recorded edit outcomes.

    python -m benchmarks.priors --samples benchmarks/results/editor-v4/editor/samples.jsonl \\
        --held benchmarks/results/editor-v4/edits.json --out benchmarks/results/priors

1. Leave one task out, over the tuning samples: priors learned (`learn_priors`) from the other
   tasks, at several caps on their pseudo-observations, predict each screening outcome of the left-out
   task in turn, updated by that task's earlier outcomes as a run's own outcomes update them
   (`operator_choice`). Score: the log-likelihood of those outcomes (higher is better), against the
   uniform prior (1, 1) and the untuned run's defaults.
2. Transfer to the held-out tasks of an edit-by-edit measurement (`benchmarks.editor_edits`): each
   operator's rate of passing screening (beating the parent on the shown minibatch) on the tuning
   tasks, as its prior says, beside the rate it had on the held-out tasks.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.output import command_line, save_tables
from spl_opt.engine.operator_choice import evidence_context, prior
from spl_opt.evaluators.stats import mean_ci
from spl_opt.tuning.outcomes import EditOutcome, read_edits
from spl_opt.tuning.tune import learn_priors

STRENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0, 1000.0)
ARM_OF = {"untuned": "editor", "answer-format": "answer-format", "worked-example": "worked-example"}


def screened(outcomes: Iterable[EditOutcome]) -> list[EditOutcome]:
    return [o for o in outcomes if o.accepted is not None and o.evidence is not None]


def log_likelihood(outcomes: Sequence[EditOutcome], priors: Any) -> float:
    """The log-probability of `outcomes`' screening results, in order, under Beta posteriors per
    (context, operator) that start at `priors` (None: uniform) and count the outcomes before."""
    seen: dict[tuple[str, str], list[int]] = {}
    total = 0.0
    for o in outcomes:
        assert o.evidence is not None
        key = (evidence_context(o.evidence), o.operator)
        alpha, beta = prior(priors, *key) if priors is not None else (1.0, 1.0)
        accepted, rejected = seen.setdefault(key, [0, 0])
        p = (alpha + accepted) / (alpha + beta + accepted + rejected)
        total += math.log(p if o.accepted else 1 - p)
        seen[key][0 if o.accepted else 1] += 1
    return total


def leave_one_task_out(outcomes: Sequence[EditOutcome], strengths: Sequence[float]) -> dict[str, Any]:
    """Per prior (uniform, or learned at each strength), the summed log-likelihood of each task's
    outcomes under priors learned from the other tasks."""
    tasks = sorted({o.task for o in outcomes})
    scores = {"uniform": 0.0, "untuned defaults": 0.0, **{f"learned, cap {s:g}": 0.0 for s in strengths}}
    for task in tasks:
        mine = [o for o in outcomes if o.task == task]
        rest = [o for o in outcomes if o.task != task]
        scores["uniform"] += log_likelihood(mine, None)
        scores["untuned defaults"] += log_likelihood(mine, {})  # answer-format on format failures 9:1
        for s in strengths:
            scores[f"learned, cap {s:g}"] += log_likelihood(mine, learn_priors(rest, strength=s))
    return {"tasks": len(tasks), "outcomes": len(outcomes), "log_likelihood": scores}


def transfer(outcomes: Sequence[EditOutcome], held_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per operator: its screening pass rate on the tuning samples and on the held-out rows."""
    out = []
    for arm, operator in ARM_OF.items():
        tuned = [float(bool(o.accepted)) for o in outcomes if o.operator == operator]
        held = [float((r["shown_gain"] or 0) > 0) for r in held_rows if r["arm"] == arm and r["usable"]]
        out.append(
            {
                "operator": operator,
                "tuning": list(mean_ci(tuned)) if tuned else None,
                "tuning_n": len(tuned),
                "held_out": list(mean_ci(held)) if held else None,
                "held_out_n": len(held),
            }
        )
    return out


def to_markdown(result: dict[str, Any], command: str) -> str:
    loto = result["leave_one_task_out"]
    lines = [
        f"Leave one task out over {loto['tasks']} tuning tasks ({loto['outcomes']} screened edits): "
        "log-likelihood of each left-out task's screening outcomes (higher is better).",
        "",
        "| prior | log-likelihood | per outcome |",
        "|---|---|---|",
    ]
    for name, ll in loto["log_likelihood"].items():
        lines.append(f"| {name} | {ll:.2f} | {ll / loto['outcomes']:.3f} |")
    lines += [
        "",
        "Screening pass rate on the tuning tasks (what the priors say) and on the held-out tasks [95% CI]:",
        "",
        "| operator | tuning tasks | n | held-out tasks | n |",
        "|---|---|---|---|---|",
    ]

    def ci(v: list[float] | None) -> str:
        return "–" if v is None else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"

    for r in result["transfer"]:
        tuning, held = f"{ci(r['tuning'])} | {r['tuning_n']}", f"{ci(r['held_out'])} | {r['held_out_n']}"
        lines.append(f"| {r['operator']} | {tuning} | {held} |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.priors", description=__doc__.splitlines()[0])
    p.add_argument("--samples", required=True, help="tune-editor's samples.jsonl (the tuning tasks)")
    p.add_argument("--held", help="an editor_edits edits.json measured on held-out tasks")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    outcomes = screened(read_edits(Path(args.samples)))
    held = json.loads(Path(args.held).read_text(encoding="utf-8"))["rows"] if args.held else []
    result = {
        "leave_one_task_out": leave_one_task_out(outcomes, STRENGTHS),
        "transfer": transfer(outcomes, held),
    }
    command = command_line("benchmarks.priors", argv)
    save_tables(Path(args.out), "priors", {**result, "command": command}, to_markdown(result, command))


if __name__ == "__main__":
    main()
