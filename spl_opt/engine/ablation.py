"""Measure each strategy's contribution to the best playbook: its validation accuracy without that strategy.

Used by `spl-opt report --measure`. Evaluations go through the run's own cache, so measuring twice
costs nothing, and the LMs are rebuilt from the run's saved configuration.
"""

from __future__ import annotations

from pathlib import Path

from evaluators.cache import EvalCache
from evaluators.task import EvalRequest, TaskEvaluator
from search.backends import SerialBackend
from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Playbook
from spl_opt.engine.journal import CACHE, read_config
from spl_opt.engine.result import RunReport


def without_each_strategy(playbook: Playbook) -> list[Candidate]:
    """One candidate per strategy: the playbook with that strategy removed."""
    return [
        Candidate(
            playbook=playbook.model_copy(
                update={"strategies": playbook.strategies[:i] + playbook.strategies[i + 1 :]}
            ),
            parents=(playbook.id,),
            operator="ablate",
        )
        for i in range(len(playbook.strategies))
    ]


def measure_ablations(run_dir: Path, report: RunReport) -> list[Member]:
    """Validation members for the best playbook minus each strategy (needs the run's task LM)."""
    from spl_opt.config import validate_config
    from spl_opt.engine.runner import chat_program, task_of, task_scorer, token_counter
    from spl_opt.lm.config import build_lm

    config = validate_config(read_config(run_dir))
    task = task_of(config)
    lm = build_lm(config.task_lm)
    cache = EvalCache(run_dir / CACHE)
    try:
        evaluator = TaskEvaluator(
            chat_program(config, lm),
            task_scorer(task),
            SerialBackend(),
            cache,
            token_counter(lm, config.task_lm),
        )
        candidates = without_each_strategy(report.search.best.candidate.playbook)
        evaluations = evaluator.evaluate_many([EvalRequest(c, task.val, "val") for c in candidates])
    finally:
        cache.close()
    return [Member(candidate=c, evaluation=e) for c, e in zip(candidates, evaluations, strict=True)]
