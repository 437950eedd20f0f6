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
    return f"{mean:.3f} [{low:.3f}, {high:.3f}] (n={len(ev.results) - ev.errors}{failed})"


def _usage(name: str, u: RoleUsage) -> str:
    return f"| {name} | {u.calls} | {u.input_tokens} | {u.output_tokens} | {u.seconds:.1f} |"


def render_summary(report: RunReport) -> str:
    """Markdown: seed vs learned accuracy (val, test with 95% CI), the playbook, the front, the spend."""
    s = report.search
    overhead = max(0.0, report.wall_seconds - report.lm_seconds)
    lines = [
        f"# spl-opt run: {report.task}",
        "",
        "| prompt | val accuracy | test accuracy (95% CI) | prompt tokens |",
        "|---|---|---|---|",
        f"| seed | {s.seed.evaluation.objectives.accuracy:.3f} | {accuracy_with_ci(report.seed_test)} | "
        f"{s.seed.evaluation.objectives.length_tokens} |",
        f"| learned | {s.best.evaluation.objectives.accuracy:.3f} | {accuracy_with_ci(report.best_test)} | "
        f"{s.best.evaluation.objectives.length_tokens} |",
        "",
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
