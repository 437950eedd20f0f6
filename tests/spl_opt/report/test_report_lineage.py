"""Lineage read back from a real run's journal, prompt diffs, and strategy contributions."""

from __future__ import annotations

import itertools
from pathlib import Path

from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Evaluation, Objectives, Playbook, Strategy
from spl_opt.engine.result import RunReport
from spl_opt.report import read_events
from spl_opt.report.lineage import (
    ancestry,
    edit_diff,
    lineage_tree,
    load_candidates,
    strategy_contributions,
)

Run = tuple[Path, RunReport]


def _candidates(run_dir: Path) -> dict[str, Candidate]:
    return load_candidates(read_events(run_dir / "journal.jsonl"))


def test_ancestry_runs_from_the_seed_to_the_best(finished_run: Run) -> None:
    run_dir, report = finished_run
    candidates = _candidates(run_dir)
    chain = ancestry(report.search.best.candidate.id, candidates)
    assert chain[0].id == report.search.seed.candidate.id
    assert chain[-1].id == report.search.best.candidate.id
    assert len(chain) >= 3  # several steps of lineage
    for parent, child in itertools.pairwise(chain):
        assert child.parents[0] == parent.id
        assert child.generation == parent.generation + 1


def test_lineage_tree_is_the_union_of_the_front_ancestries(finished_run: Run) -> None:
    run_dir, report = finished_run
    candidates = _candidates(run_dir)
    front_ids = [m.candidate.id for m in report.search.front]
    edges = lineage_tree(front_ids, candidates)
    expected = {
        (p.id, c.id)
        for cid in front_ids
        for p, c in zip(ancestry(cid, candidates), ancestry(cid, candidates)[1:], strict=False)
    }
    assert set(edges) == expected
    assert len(edges) == len(set(edges))
    nodes = {n for edge in edges for n in edge}
    assert set(front_ids) <= nodes | {report.search.seed.candidate.id}


def test_ancestry_stops_at_an_unknown_parent() -> None:
    orphan = Candidate(playbook=Playbook(preamble="x"), parents=("missing",), generation=3)
    assert ancestry(orphan.id, {orphan.id: orphan}) == [orphan]


def test_each_diff_shows_the_added_strategy_text(finished_run: Run) -> None:
    run_dir, report = finished_run
    chain = ancestry(report.search.best.candidate.id, _candidates(run_dir))
    for parent, child in itertools.pairwise(chain):
        diff = edit_diff(parent.playbook, child.playbook).splitlines()
        added = [s for s in child.playbook.strategies if s not in parent.playbook.strategies]
        assert added
        for strategy in added:
            assert f"+{strategy.render()}" in diff


def _member(playbook: Playbook, accuracy: float) -> Member:
    evaluation = Evaluation(
        candidate_id=playbook.id,
        split="val",
        results=(),
        objectives=Objectives(accuracy=accuracy, length_tokens=len(playbook.render().split())),
    )
    return Member(candidate=Candidate(playbook=playbook), evaluation=evaluation)


def test_contributions_are_measured_only_when_the_ablated_playbook_was_evaluated() -> None:
    a, b, c = (Strategy(id=f"s{i}", title=t, text=f"rule {t}") for i, t in enumerate("abc", 1))
    best = _member(Playbook(preamble="P", strategies=(a, b, c)), 0.9)
    members = [
        best,
        _member(Playbook(preamble="P", strategies=(b, c)), 0.6),  # without a
        _member(Playbook(preamble="P", strategies=(c, a)), 0.1),  # without b, but reordered
        _member(Playbook(preamble="Q", strategies=(a, b)), 0.2),  # without c, other preamble
        _member(Playbook(preamble="P"), 0.0),
    ]
    contributions = strategy_contributions(best, members)
    assert list(contributions) == ["s1", "s2", "s3"]
    assert abs((contributions["s1"] or 0.0) - 0.3) < 1e-9
    assert contributions["s2"] is None
    assert contributions["s3"] is None
    members.append(_member(Playbook(preamble="P", strategies=(a, b)), 0.95))
    assert abs((strategy_contributions(best, members)["s3"] or 0.0) + 0.05) < 1e-9
