"""`spl-opt report`: a finished run directory as one self-contained HTML page plus PNG figures.

`write_report(run_dir)` reads `result.json` and `journal.jsonl` and writes `report.html`, `pareto.png`,
`progress.png`, `lineage.png` and `budget.png` into `run_dir/report` (or `out_dir`). The figures are
embedded in the page as base64, so the HTML file works alone; the PNGs stay next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate
from spl_opt.engine import journal
from spl_opt.engine.events import Event
from spl_opt.engine.journal import JOURNAL
from spl_opt.engine.result import RunReport

__all__ = ["read_events", "write_report"]


def read_events(path: Path) -> list[Event]:
    """The journal's events, skipping torn lines; [] when there is no journal."""
    return journal.read_events(path)[0]


def _candidates(report: RunReport, events: list[Event]) -> dict[str, Candidate]:
    from spl_opt.report.lineage import load_candidates

    known = {m.candidate.id: m.candidate for m in report.search.members}
    return {**known, **load_candidates(events)}


def _figures(
    report: RunReport,
    candidates: dict[str, Candidate],
    out_dir: Path,
    test_curve: Sequence[tuple[int, float]] = (),
) -> dict[str, Path]:
    from spl_opt.report import figures
    from spl_opt.report.lineage import lineage_tree

    s = report.search
    accuracy = {m.candidate.id: m.evaluation.objectives.accuracy for m in s.members}
    tips = [*(m.candidate.id for m in s.front), s.best.candidate.id]
    edges = lineage_tree(tips, candidates)
    seed_test = report.seed_test.objectives.accuracy if report.seed_test else None
    best_test = report.best_test.objectives.accuracy if report.best_test else None
    return {
        "pareto": figures.pareto_figure(s.members, s.front, out_dir / "pareto.png"),
        "progress": figures.progress_figure(
            s.history,
            seed_test,
            best_test,
            out_dir / "progress.png",
            total_rollouts=s.rollouts,
            test_curve=test_curve,
        ),
        "lineage": figures.lineage_figure(edges, candidates, accuracy, out_dir / "lineage.png"),
        "budget": figures.budget_figure(report, out_dir / "budget.png"),
    }


def write_report(
    run_dir: Path,
    out_dir: Path | None = None,
    *,
    measured: Sequence[Member] = (),
    test_curve: Sequence[tuple[int, float]] = (),
) -> Path:
    """Write the report of the finished run in `run_dir`; returns the HTML file's path.

    `measured` are extra validation members (e.g. from `engine.measure.measure_ablations`) used for
    the strategies' contributions; `test_curve` (rollouts, test accuracy of the best-so-far prompt)
    points, e.g. from `engine.measure.measure_test_curve`, are drawn on the progress figure. Raises
    RunDirError when the run has no valid result.json.
    """
    from spl_opt.export import load_report
    from spl_opt.report.html import render_html

    report = load_report(run_dir)
    out_dir = out_dir or run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = _candidates(report, read_events(run_dir / JOURNAL))
    figures = _figures(report, candidates, out_dir, test_curve)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(report, candidates, figures, measured), encoding="utf-8")
    return html_path
