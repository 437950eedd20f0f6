from concurrent.futures import Future

import pytest

from spl_opt.backends.local import SerialBackend
from spl_opt.backends.retry import RetryingBackend
from spl_opt.core.errors import WorkerLost
from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Playbook, Proposal
from spl_opt.evaluators.task import TaskEvaluator
from spl_opt.evaluators.worker import Worker
from tests.evaluators.test_task_evaluator import CAND, EXAMPLES, EchoProgram, scorer


class FlakyBackend(SerialBackend):
    """Loses the first `deaths` calls, as if their worker died; records where each call went."""

    def __init__(self, deaths: int, program=None):
        super().__init__(Worker(program or EchoProgram(), scorer))
        self.deaths = deaths
        self.submitted: list[tuple[str, str]] = []

    def submit(self, affinity, prompt, examples):
        futures = []
        for ex in examples:
            self.submitted.append((affinity, ex.id))
            if self.deaths > 0:
                self.deaths -= 1
                f: Future = Future()
                f.set_exception(WorkerLost("node 2 died"))
                futures.append(f)
            else:
                futures.extend(super().submit(affinity, prompt, [ex]))
        return futures


def _evaluator(backend, lost):
    calls = RetryingBackend(backend, on_lost=lost.append, delay=0.0)
    return TaskEvaluator(calls, namespace="echo"), calls


def test_a_call_lost_with_its_worker_is_retried_once_then_recorded():
    lost: list[str] = []
    evaluator, calls = _evaluator(FlakyBackend(2), lost)
    ev = evaluator.evaluate(CAND, EXAMPLES, "val")
    assert ev.objectives.accuracy == 1.0 and calls.lost_calls == 2 and evaluator.failed_calls == 0
    assert len(lost) == 2 and all("retrying once" in m and "node 2 died" in m for m in lost)

    evaluator, _ = _evaluator(FlakyBackend(8), lost)
    ev = evaluator.evaluate(CAND, EXAMPLES, "val")
    assert ev.objectives.accuracy == 0.0 and evaluator.failed_calls == 4
    assert all(r.error == "WorkerLost: node 2 died" and "failed twice" in r.feedback for r in ev.results)


class LosingBackend:
    """Loses the first `losses` proposals with their worker."""

    def __init__(self, losses: int):
        self.losses = losses

    def propose(self, operator, parent, evidence, n):
        future: Future = Future()
        if self.losses > 0:
            self.losses -= 1
            future.set_exception(WorkerLost("node gone"))
        else:
            future.set_result(Proposal(editor_id=operator, raw="ok"))
        return future

    def close(self):
        pass


@pytest.mark.parametrize("losses,raw,error", [(0, "ok", None), (1, "ok", None), (2, "", "lost twice")])
def test_a_proposal_lost_with_its_worker_is_retried_once_then_recorded(losses, raw, error):
    notes: list[str] = []
    calls = RetryingBackend(LosingBackend(losses), on_lost=notes.append, delay=0.0)
    proposal = calls.propose("editor", Playbook(preamble="P"), Evidence(), 1).result(1)
    assert proposal.raw == raw and (error is None) == (proposal.error is None)
    assert error is None or error in (proposal.error or "")
    assert len(notes) == losses and all("proposal (editor)" in n and "node gone" in n for n in notes)


def test_a_proposal_whose_retry_cannot_be_sent_fails_instead_of_hanging():
    class Closing(LosingBackend):
        def propose(self, operator, parent, evidence, n):
            if self.losses == 0:
                raise RuntimeError("RayBackend is closed")
            return super().propose(operator, parent, evidence, n)

    calls = RetryingBackend(Closing(1), delay=0.0)
    with pytest.raises(RuntimeError, match="closed"):
        calls.propose("editor", Playbook(preamble="P"), Evidence(), 1).result(2)
