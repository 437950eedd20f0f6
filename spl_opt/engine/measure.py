"""Measurements after a run, for `spl-opt report --measure`: each strategy's contribution to the best
playbook (validation accuracy without it), and the test accuracy of the best-so-far prompt along the
search. The LMs are rebuilt from the run's saved configuration and every evaluation goes through the
run's cache, so measuring twice costs nothing and test data never reaches the search itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from spl_opt.backends.local import local_evaluator
from spl_opt.core.edits import ablations
from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Playbook, TaskData
from spl_opt.engine.journal import CACHE, read_config
from spl_opt.engine.result import RunReport
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.task import EvalRequest, TaskEvaluator


def without_each_strategy(playbook: Playbook) -> list[Candidate]:
    """One candidate per strategy (of each part): the playbook with that strategy removed."""
    return [
        Candidate(playbook=ablated, parents=(playbook.id,), operator="ablate")
        for _, _, ablated in ablations(playbook)
    ]


def best_so_far(members: Sequence[Member]) -> list[Candidate]:
    """After each member joined, the best candidate yet (validation accuracy, then shorter prompt)."""
    best: list[Candidate] = []
    top: Member | None = None
    for member in members:
        if top is None or member.point > top.point:
            top = member
        best.append(top.candidate)
    return best


@contextmanager
def run_evaluator(run_dir: Path) -> Iterator[tuple[TaskData, TaskEvaluator]]:
    """The run's task and an evaluator on its task LM and cache."""
    from spl_opt.config import validate_config
    from spl_opt.engine.runner import task_of, task_program, task_scorer, token_counter
    from spl_opt.lm.config import build_lm

    config = validate_config(read_config(run_dir))
    task = task_of(config)
    lm = build_lm(config.task_lm)
    cache = EvalCache(run_dir / CACHE)
    try:
        yield (
            task,
            local_evaluator(
                task_program(config, lm), task_scorer(task), cache, token_counter(lm, config.task_lm)
            ),
        )
    finally:
        cache.close()


def measure_ablations(run_dir: Path, report: RunReport) -> list[Member]:
    """Validation members for the best playbook minus each strategy."""
    candidates = without_each_strategy(report.search.best.candidate.playbook)
    with run_evaluator(run_dir) as (task, evaluator):
        evaluations = evaluator.evaluate_many([EvalRequest(c, task.val, "val") for c in candidates])
    return [Member(candidate=c, evaluation=e) for c, e in zip(candidates, evaluations, strict=True)]


def measure_test_curve(run_dir: Path, report: RunReport) -> list[tuple[int, float]]:
    """(rollouts, test accuracy of the best prompt so far) at every point of the search's history."""
    bests = best_so_far(report.search.members)
    with run_evaluator(run_dir) as (task, evaluator):
        unique = list({c.id: c for c in bests}.values())
        scores = {
            ev.candidate_id: ev.objectives.accuracy
            for ev in evaluator.evaluate_many([EvalRequest(c, task.test, "test") for c in unique])
        }
    return [(rollouts, scores[c.id]) for (rollouts, _), c in zip(report.search.history, bests, strict=True)]
