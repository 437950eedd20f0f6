"""The human-readable summary of a finished run, and the files saved in its run directory."""

from __future__ import annotations

from pathlib import Path

from spl_opt.core.records import Evaluation
from spl_opt.engine.journal import write_json
from spl_opt.engine.result import RoleUsage, RunReport
from spl_opt.evaluators.stats import mean_ci


def accuracy_with_ci(ev: Evaluation | None) -> str:
    """`0.600 [0.462, 0.724] (n=50)`: accuracy over the examples whose call did not fail, 95% CI."""
    if ev is None:
        return "(no test set)"
    mean, low, high = mean_ci(list(ev.scores().values()))
    failed = f", {ev.errors} failed calls excluded" if ev.errors else ""
    return f"{mean:.3f} [{low:.3f}, {high:.3f}] (n={ev.answered}{failed})"


CUT_OFF_WARNING = 0.2  # the share of cut-off outputs that makes a run say so


def cut_off_warning(ev: Evaluation | None, what: str) -> str | None:
    """One line when a fifth or more of `ev`'s outputs stopped at the task LM's generation limit."""
    if ev is None or not ev.answered or ev.cut_off / ev.answered < CUT_OFF_WARNING:
        return None
    return (
        f"warning: {ev.cut_off} of {ev.answered} {what} outputs stopped at the task LM's generation limit "
        "and count as no answer unless right; a larger budget (--max-tokens, task_lm.max_tokens, or the "
        "LM's max_tokens) may let them finish, at more LM time per call"
    )


CUT_OFF_COLUMN = "outputs cut off at the generation limit (val, test)"


def cut_off_count(ev: Evaluation | None, reported: bool = True) -> str:
    """`3/30`: outputs cut off at the generation limit, of the outputs whose call did not fail
    ("not reported" when the program does not tell)."""
    if not reported:
        return "not reported"
    return f"{ev.cut_off}/{ev.answered}" if ev is not None else "–"


def cut_off_counts(val: Evaluation, test: Evaluation | None, reported: bool) -> str:
    """The val and test counts of one prompt, or "not reported" once."""
    return f"{cut_off_count(val)}, {cut_off_count(test)}" if reported else cut_off_count(None, False)


def cut_off_warnings(report: RunReport) -> list[str]:
    """The warnings of the seed's and (if another prompt) the learned prompt's validation outputs."""
    s = report.search
    shown = [(s.seed, "seed validation")]
    if s.best.candidate.id != s.seed.candidate.id:
        shown.append((s.best, "learned validation"))
    warnings = (cut_off_warning(m.evaluation, what) for m, what in shown)
    return [w for w in warnings if w]


def _prompt_row(name: str, val: Evaluation, test: Evaluation | None, reported: bool) -> str:
    return (
        f"| {name} | {val.objectives.accuracy:.3f} | {accuracy_with_ci(test)} "
        f"| {val.objectives.length_tokens} | {cut_off_counts(val, test, reported)} |"
    )


def _usage(name: str, u: RoleUsage) -> str:
    return f"| {name} | {u.calls} | {u.input_tokens} | {u.output_tokens} | {u.seconds:.1f} |"


def render_summary(report: RunReport) -> str:
    """Markdown: seed vs learned accuracy (val, test with 95% CI), the playbook, the front, the spend."""
    s = report.search
    overhead = max(0.0, report.wall_seconds - report.lm_seconds)
    lines = [
        f"# spl-opt run: {report.task}",
        "",
        f"| prompt | val accuracy | test accuracy (95% CI) | prompt tokens | {CUT_OFF_COLUMN} |",
        "|---|---|---|---|---|",
        _prompt_row("seed", s.seed.evaluation, report.seed_test, report.reports_truncation),
        _prompt_row("learned", s.best.evaluation, report.best_test, report.reports_truncation),
        "",
        *(line for warning in cut_off_warnings(report) for line in (f"{warning}.", "")),
        *([f"Choice: {s.choice.note}.", ""] if s.choice is not None and s.choice.note else []),
        "## Learned system prompt",
        "```",
        s.best.candidate.prompt,
        "```",
        "",
        "## Pareto front (validation accuracy vs prompt tokens)",
        "| candidate | val accuracy | prompt tokens | operator | generation |",
        "|---|---|---|---|---|",
        *(
            f"| {m.candidate.id} | {m.evaluation.objectives.accuracy:.3f} | "
            f"{m.evaluation.objectives.length_tokens} | {m.candidate.operator} | {m.candidate.generation} |"
            for m in s.front
        ),
        "",
        "## Budget",
        f"- search rollouts: {s.rollouts} over {s.iterations} iterations ({s.stop_reason})",
        f"- failed task-LM calls this session: {report.failed_calls} (infrastructure faults: excluded "
        "from every accuracy, never cached as results, called again on resume)",
        f"- operators (tried, accepted at screening): {s.operator_stats}",
        f"- wall time: {report.wall_seconds:.1f} s; inside LM calls: {report.lm_seconds:.1f} s; "
        f"framework overhead: {overhead:.1f} s ({100 * overhead / max(report.wall_seconds, 1e-9):.1f}%)",
        "",
        "| role | calls | input tokens | output tokens | LM seconds |",
        "|---|---|---|---|---|",
        _usage("task (search)", s.task_usage),
        _usage("editor", s.editor_usage),
        _usage("task (test)", report.test_usage),
    ]
    return "\n".join(lines) + "\n"


def write_outputs(run_dir: Path, report: RunReport) -> None:
    """result.json (the full report), summary.md, prompt.txt and playbook.json."""
    write_json(run_dir / "result.json", report.model_dump(mode="json"))
    (run_dir / "summary.md").write_text(render_summary(report), encoding="utf-8")
    best = report.search.best.candidate
    (run_dir / "prompt.txt").write_text(best.prompt + "\n", encoding="utf-8")
    write_json(run_dir / "playbook.json", best.playbook.model_dump(mode="json"))
