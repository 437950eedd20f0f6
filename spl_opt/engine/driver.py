"""The steady-state driver: keeps up to `parallel` iterations' work running on a backend and tells
each result as soon as it arrives, so a free worker is never left waiting for a generation to end.

On resume the driver tells results in the order the journal recorded, so the replay is exact even
though a live run's order depends on timing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from spl_opt.core.errors import RunDirError
from spl_opt.core.records import Evaluation, Proposal
from spl_opt.engine.optimizer import Optimizer
from spl_opt.engine.result import SearchResult
from spl_opt.engine.work import ProposeRequest, Work
from spl_opt.evaluators.task import TaskEvaluator

ProposeFn = Callable[[ProposeRequest], "Future[Proposal]"]


def done(value: Proposal) -> Future[Proposal]:
    """A future that already holds `value`."""
    future: Future[Proposal] = Future()
    future.set_result(value)
    return future


def drive(
    optimizer: Optimizer,
    evaluator: TaskEvaluator,
    propose: ProposeFn,
    before_tell: Callable[[Work, Evaluation | Proposal], None] | None = None,
    after_tell: Callable[[Optimizer], None] | None = None,
) -> SearchResult:
    """Run the search to its end: dispatch work as the optimizer asks, tell results as they finish.

    `before_tell(work, result)` may raise to stop the run before the optimizer sees the result.
    """
    running: dict[str, tuple[Work, Future[Any]]] = {}
    while True:
        for pending in optimizer.ask():
            work = pending.work
            if pending.recorded is not None:
                future: Future[Any] = done(pending.recorded)
            elif isinstance(work, ProposeRequest):
                future = propose(work)
            else:
                future = evaluator.submit(work, replay=optimizer.journal.told(pending.key))
            running[pending.key] = (work, future)
        if not running:
            return optimizer.result()
        recorded = optimizer.journal.recorded("tell")
        if recorded is not None:
            key = str(recorded.get("key"))
            if key not in running:
                raise RunDirError(
                    f"{optimizer.journal.path}: resume diverged (the journal tells {key!r} next, "
                    f"but the run has {sorted(running)} in flight); were the code, data or config changed?"
                )
        else:
            wait([f for _, f in running.values()], return_when=FIRST_COMPLETED)
            key = next(k for k, (_, f) in running.items() if f.done())  # oldest first among the finished
        work, future = running.pop(key)
        result = future.result()
        if before_tell is not None:
            before_tell(work, result)
        optimizer.tell(key, result)
        if after_tell is not None:
            after_tell(optimizer)
