"""`write_report` on a real (scripted) run: a self-contained HTML page plus PNG files."""

from __future__ import annotations

import base64
import html
import itertools
import re
from pathlib import Path

import pytest

from spl_opt.core.errors import RunDirError
from spl_opt.core.protocols import Member
from spl_opt.engine.result import RunReport
from spl_opt.report import read_events, write_report
from spl_opt.report.html import render_html
from spl_opt.report.lineage import ancestry, edit_diff, load_candidates

Run = tuple[Path, RunReport]
FIGURES = ("pareto", "progress", "lineage", "budget")


@pytest.fixture(scope="module")
def page(finished_run: Run) -> tuple[Path, str]:
    run_dir, _ = finished_run
    path = write_report(run_dir)
    return path, path.read_text(encoding="utf-8")


def test_report_holds_the_learned_prompt_and_embeds_every_figure(
    finished_run: Run, page: tuple[Path, str]
) -> None:
    run_dir, report = finished_run
    path, text = page
    assert path == run_dir / "report" / "report.html"
    assert html.escape(report.search.best.candidate.prompt) in text
    assert "<carefully>" not in text  # user text is escaped
    for name in FIGURES:
        png = path.parent / f"{name}.png"
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG")
        assert f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}" in text


def test_front_table_lists_the_front(finished_run: Run, page: tuple[Path, str]) -> None:
    _, report = finished_run
    table = re.search(r'<table id="front">(.*?)</table>', page[1], re.S)
    assert table is not None
    ids = re.findall(r"<tr><td><code>([0-9a-f]+)</code>", table.group(1))
    assert ids == [m.candidate.id for m in report.search.front]


def test_lineage_matches_the_journal(finished_run: Run, page: tuple[Path, str]) -> None:
    run_dir, report = finished_run
    text = page[1]
    chain = ancestry(report.search.best.candidate.id, load_candidates(read_events(run_dir / "journal.jsonl")))
    steps = re.findall(r'<div class="step" data-parent="(\w+)" data-child="(\w+)">', text)
    assert steps == [(p.id, c.id) for p, c in itertools.pairwise(chain)]
    assert steps[0][0] == report.search.seed.candidate.id
    assert steps[-1][1] == report.search.best.candidate.id
    for parent, child in itertools.pairwise(chain):
        for line in edit_diff(parent.playbook, child.playbook).splitlines():
            assert html.escape(line) in text
        for strategy in child.playbook.strategies:
            if strategy not in parent.playbook.strategies:
                assert f'<span class="add">{html.escape("+" + strategy.render())}</span>' in text


def test_measured_ablations_fill_in_contributions(finished_run: Run) -> None:
    _, report = finished_run
    best = report.search.best
    first = best.candidate.playbook.strategies[0]
    ablated = best.candidate.playbook.model_copy(
        update={"strategies": best.candidate.playbook.strategies[1:]}
    )
    measured = Member(
        candidate=best.candidate.model_copy(update={"playbook": ablated}),
        evaluation=best.evaluation.model_copy(
            update={"objectives": best.evaluation.objectives.model_copy(update={"accuracy": 0.25})}
        ),
    )
    without = render_html(report, {}, {})
    with_measured = render_html(report, {}, {}, measured=[measured])
    row = f"<td><code>{first.id}</code></td>"
    assert "not measured" in without.split(row)[1].split("</tr>")[0]
    assert (
        f"{best.evaluation.objectives.accuracy - 0.25:+.3f}" in with_measured.split(row)[1].split("</tr>")[0]
    )


def test_task_name_is_escaped(finished_run: Run) -> None:
    report = finished_run[1].model_copy(update={"task": "<script>x</script>"})
    text = render_html(report, {}, {})
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_unfinished_or_broken_run_dir_raises(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text("")
    with pytest.raises(RunDirError, match=r"has no result\.json"):
        write_report(tmp_path)
    (tmp_path / "result.json").write_text("{not json")
    with pytest.raises(RunDirError):
        write_report(tmp_path)


def test_the_comparison_counts_outputs_cut_off_at_the_generation_limit(
    finished_run: Run, page: tuple[Path, str]
) -> None:
    _, report = finished_run
    seed = report.search.seed.evaluation
    assert "outputs cut off at the generation limit (val, test)</th>" in page[1]
    assert f"<td>{seed.cut_off}/{len(seed.results)}, " in page[1]
