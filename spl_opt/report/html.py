"""The report as one self-contained HTML page: inline CSS, figures embedded as base64 PNGs."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from spl_opt.core.edits import ablations
from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Evaluation
from spl_opt.engine.result import RoleUsage, RunReport
from spl_opt.engine.summary import CUT_OFF_COLUMN, accuracy_with_ci, cut_off_counts
from spl_opt.report.lineage import (
    ancestry,
    changed_parts,
    edit_diff,
    lineage_by_part,
    strategy_contributions,
)

CAPTIONS = {
    "pareto": "Validation accuracy against prompt length; the Pareto front in orange.",
    "progress": "Best validation accuracy against rollouts; test accuracy of seed and learned prompt.",
    "lineage": "How the front's prompts descend from the seed.",
    "budget": "LM spend by role.",
}

CSS = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #212529; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .sub { color: #6c757d; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; }
th, td { border: 1px solid #dee2e6; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f1f3f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f8f9fa; border: 1px solid #dee2e6; padding: 0.7rem; white-space: pre-wrap;
      word-break: break-word; }
pre.diff span { display: block; } .add { background: #d3f9d8; } .del { background: #ffe3e3; }
.hunk { color: #1971c2; } .na { color: #868e96; font-style: italic; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #dee2e6; }
figcaption { color: #495057; font-size: 0.9rem; }
.step { border-left: 3px solid #1c7ed6; padding-left: 0.8rem; margin-bottom: 1.2rem; }
code { background: #f1f3f5; padding: 0 0.2rem; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], table_id: str = "") -> str:
    """Cells are inserted as given: callers escape them."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(cell: str) -> str:
    try:
        float(cell)
    except ValueError:
        return f"<td>{cell}</td>"
    return f'<td class="num">{cell}</td>'


def _test_acc(ev: Evaluation | None) -> str:
    if ev is None:
        return '<span class="na">no test set</span>'
    return accuracy_with_ci(ev)


def _comparison(report: RunReport) -> str:
    s = report.search
    rows = [
        [
            name,
            f"{m.evaluation.objectives.accuracy:.3f}",
            _test_acc(test),
            str(m.evaluation.objectives.length_tokens),
            cut_off_counts(m.evaluation, test, report.reports_truncation),
            f"<code>{escape(m.candidate.id)}</code>",
        ]
        for name, m, test in (("seed", s.seed, report.seed_test), ("learned", s.best, report.best_test))
    ]
    headers = [
        "prompt",
        "val accuracy",
        "test accuracy (95% CI)",
        "prompt tokens",
        CUT_OFF_COLUMN,
        "candidate",
    ]
    return _table(headers, rows)


def _playbook(report: RunReport, measured: Sequence[Member]) -> str:
    best = report.search.best
    slots = ablations(best.candidate.playbook)
    if not slots:
        return '<p class="na">The learned playbook has no strategies.</p>'
    contributions = strategy_contributions(best, [*report.search.members, *measured])
    rows = []
    for key, s, _ in slots:
        value = contributions.get(key)
        shown = '<span class="na">not measured</span>' if value is None else f"{value:+.3f}"
        rows.append([f"<code>{escape(key)}</code>", escape(s.title), escape(s.text), shown])
    note = (
        "<p>Contribution: the learned prompt's validation accuracy minus that of the same prompt "
        "without the strategy, when that prompt was evaluated.</p>"
    )
    return note + _table(["id", "title", "strategy", "contribution"], rows)


def _front(report: RunReport) -> str:
    rows = [
        [
            f"<code>{escape(m.candidate.id)}</code>",
            f"{m.evaluation.objectives.accuracy:.3f}",
            str(m.evaluation.objectives.length_tokens),
            escape(m.candidate.operator),
            str(m.candidate.generation),
        ]
        for m in report.search.front
    ]
    return _table(["candidate", "val accuracy", "prompt tokens", "operator", "generation"], rows, "front")


def _figures(figures: Mapping[str, Path]) -> str:
    parts = []
    for name, path in figures.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = escape(CAPTIONS.get(name, name))
        parts.append(
            f'<figure id="fig-{escape(name)}"><img alt="{escape(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption} (<code>{escape(path.name)}</code>)</figcaption></figure>"
        )
    return "\n".join(parts)


def _line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return ""
    return {"@": ' class="hunk"', "+": ' class="add"', "-": ' class="del"'}.get(line[:1], "")


def _diff_html(diff: str) -> str:
    lines = [f"<span{_line_class(line)}>{escape(line)}</span>" for line in diff.splitlines()]
    return '<pre class="diff">' + "".join(lines) + "</pre>" if lines else '<p class="na">(no change)</p>'


def _lineage(report: RunReport, candidates: Mapping[str, Candidate]) -> str:
    best = report.search.best.candidate
    known = {**candidates, best.id: candidates.get(best.id, best)}
    chain = ancestry(best.id, known)
    accuracy = {m.candidate.id: m.evaluation.objectives.accuracy for m in report.search.members}
    parts = [
        f"<p>{len(chain) - 1} step(s) from <code>{escape(chain[0].id)}</code> to the learned prompt "
        f"<code>{escape(best.id)}</code>.</p>"
    ]
    for step, (parent, child) in enumerate(itertools.pairwise(chain), start=1):
        acc = accuracy.get(child.id)
        acc_text = f"val accuracy {acc:.3f}" if acc is not None else "not evaluated on val"
        edits = (
            "".join(
                f"<li><b>{escape(e.op)}</b>{' ' + escape(e.title) if e.title else ''}"
                f"{': ' + escape(e.rationale) if e.rationale else ''}</li>"
                for e in child.edits
            )
            or '<li class="na">no recorded edits</li>'
        )
        parts.append(
            f'<div class="step" data-parent="{escape(parent.id)}" data-child="{escape(child.id)}">'
            f"<h3>Step {step}: {escape(child.operator)} → <code>{escape(child.id)}</code> "
            f"(generation {child.generation}, {acc_text}"
            f"{''.join(f', predictor {escape(n)}' for n in changed_parts(parent.playbook, child.playbook))}"
            ")</h3>"
            f"<ul>{edits}</ul>"
            f"{_diff_html(edit_diff(parent.playbook, child.playbook))}</div>"
        )
    return "\n".join(parts)


def _lineage_by_part(report: RunReport, candidates: Mapping[str, Candidate]) -> str:
    best = report.search.best.candidate
    chain = ancestry(best.id, {**candidates, best.id: candidates.get(best.id, best)})
    by_part = lineage_by_part(chain)
    parts = []
    for name, steps in by_part.items():
        diffs = "".join(
            f"<h4>{escape(child.operator)} → <code>{escape(child.id)}</code></h4>"
            f"{_diff_html(edit_diff(parent.playbook.part(name), child.playbook.part(name)))}"
            for parent, child in steps
        )
        parts.append(
            f'<div class="part" data-part="{escape(name)}"><h3>Predictor <code>{escape(name)}</code>: '
            f"{len(steps)} edit(s)</h3>{diffs}</div>"
        )
    return "\n".join(parts)


def _usage_row(name: str, u: RoleUsage) -> list[str]:
    return [name, str(u.calls), str(u.input_tokens), str(u.output_tokens), f"{u.seconds:.1f}"]


def _budget(report: RunReport) -> str:
    s = report.search
    overhead = max(0.0, report.wall_seconds - report.lm_seconds)
    share = 100 * overhead / max(report.wall_seconds, 1e-9)
    rows = [
        _usage_row("task (search)", s.task_usage),
        _usage_row("editor", s.editor_usage),
        _usage_row("task (test)", report.test_usage),
    ]
    ops = ", ".join(f"{escape(k)} {t}/{a}" for k, (t, a) in sorted(s.operator_stats.items()))
    return (
        _table(["role", "calls", "input tokens", "output tokens", "LM seconds"], rows)
        + f"<p>Search: {s.rollouts} rollouts over {s.iterations} iterations; stopped: "
        f"{escape(s.stop_reason)}.<br>Operators (tried/accepted at screening): {ops or 'none'}.<br>"
        f"Wall time {report.wall_seconds:.1f} s; inside LM calls {report.lm_seconds:.1f} s; "
        f"framework overhead {overhead:.1f} s ({share:.1f}%).<br>Failed task-LM calls (infrastructure "
        f"faults, excluded from accuracies and called again on resume): {report.failed_calls}.</p>"
    )


def render_html(
    report: RunReport,
    candidates: Mapping[str, Candidate],
    figures: Mapping[str, Path],
    measured: Sequence[Member] = (),
) -> str:
    """The whole report page. `candidates` come from the journal (for the lineage), `figures` are PNG
    files embedded in order, `measured` are extra validation members (e.g. ablations) for contributions."""
    s = report.search
    sections = [
        ("Seed vs learned prompt", _comparison(report)),
        ("Learned system prompt", f'<pre id="prompt">{escape(s.best.candidate.prompt)}</pre>'),
        ("Playbook", _playbook(report, measured)),
        ("Pareto front (validation accuracy vs prompt tokens)", _front(report)),
        ("Figures", _figures(figures)),
        ("Lineage of the learned prompt", _lineage(report, candidates)),
        *(
            [("Lineage per predictor", _lineage_by_part(report, candidates))]
            if s.best.candidate.playbook.parts
            else []
        ),
        ("Budget by role", _budget(report)),
    ]
    body = "\n".join(f"<section><h2>{title}</h2>\n{content}</section>" for title, content in sections)
    title = f"spl-opt run: {escape(report.task)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{title}</h1>"
        f'<p class="sub">{len(s.members)} members evaluated, {len(s.front)} on the front; '
        f"{escape(s.stop_reason)}.</p>\n{body}\n</body></html>\n"
    )
