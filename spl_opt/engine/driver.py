"""The steady-state driver: keeps up to `parallel` iterations' work running and tells each result as
soon as it arrives, so a free worker is never left waiting for a generation to end.

Results come from `Sources`: `Live` for a fresh run (the evaluator and the operators), or
`spl_opt.engine.replay.Replay` around it for a run that has a journal, which also fixes the order
results are told in (a live run's order depends on timing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Protocol

from spl_opt.core.records import Evaluation, Proposal
from spl_opt.engine.optimizer import Optimizer
from spl_opt.engine.result import SearchResult
from spl_opt.engine.work import ProposeRequest, Work
from spl_opt.evaluators.task import TaskEvaluator

ProposeFn = Callable[[ProposeRequest], "Future[Proposal]"]


def done(value: Any) -> Future[Any]:
    """A future that already holds `value`."""
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class Sources(Protocol):
    """Where the driver gets results, and in which order it tells them.

    `submit` starts the work handed out under `key` and returns its future. `next_key` is the key
    whose result must be told next, among the `running` ones, or None to tell whichever finishes
    first. `end` is (iterations, stop reason) where the search must stop, or None.
    """

    end: tuple[int, str] | None

    def submit(self, key: str, work: Work) -> Future[Evaluation | Proposal]: ...

    def next_key(self, running: Collection[str]) -> str | None: ...


class Live:
    """The sources of a fresh run: evaluations on `evaluator`, proposals from `propose`."""

    end: tuple[int, str] | None = None

    def __init__(self, evaluator: TaskEvaluator, propose: ProposeFn) -> None:
        self.evaluator = evaluator
        self.propose = propose
        self.fresh_proposal_seconds = 0.0  # operator time spent by this session
        self._lock = threading.Lock()

    def submit(self, key: str, work: Work, *, replayed: bool = False) -> Future[Any]:
        """`replayed`: an earlier session told this evaluation's result (see `TaskEvaluator.submit`)."""
        if not isinstance(work, ProposeRequest):
            return self.evaluator.submit(work, replay=replayed)
        future = self.propose(work)
        future.add_done_callback(self._count)
        return future

    def _count(self, future: Future[Proposal]) -> None:
        if not future.cancelled() and future.exception() is None:
            with self._lock:
                self.fresh_proposal_seconds += future.result().latency

    def next_key(self, running: Collection[str]) -> str | None:
        return None


def drive(
    optimizer: Optimizer,
    sources: Sources,
    before_tell: Callable[[Work, Evaluation | Proposal], None] | None = None,
    after_tell: Callable[[Optimizer], None] | None = None,
) -> SearchResult:
    """Run the search to its end: dispatch work as the optimizer asks, tell results as they finish.

    `before_tell(work, result)` may raise to stop the run before the optimizer sees the result.
    """
    if sources.end is not None:
        optimizer.stop_after(*sources.end)
    running: dict[str, tuple[Work, Future[Any]]] = {}
    while True:
        for pending in optimizer.ask():
            running[pending.key] = (pending.work, sources.submit(pending.key, pending.work))
        if not running:
            return optimizer.result()
        key = sources.next_key(running)
        if key is None:
            wait([f for _, f in running.values()], return_when=FIRST_COMPLETED)
            key = next(k for k, (_, f) in running.items() if f.done())  # oldest first among the finished
        work, future = running.pop(key)
        result = future.result()
        if before_tell is not None:
            before_tell(work, result)
        optimizer.tell(key, result)
        if after_tell is not None:
            after_tell(optimizer)
