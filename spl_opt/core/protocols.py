"""The seams between parts of spl-opt. Each protocol's docstring is its contract."""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, TypeVar

from spl_opt.core.records import (
    Candidate,
    Evaluation,
    Example,
    ExampleResult,
    Outcome,
    Playbook,
    Proposal,
    Record,
    Step,
)

T = TypeVar("T")
R = TypeVar("R")


class EvidenceItem(Record):
    """One example as the editor sees it: what was asked, expected, answered, and why it scored so."""

    input: str
    target: str
    output: str
    feedback: str
    score: float
    outcome: Outcome = "wrong"


class Evidence(Record):
    """What an editor sees: a parent's failures and successes on a minibatch, other good playbooks
    (`donors`, for crossover) and a `seed` for any choice an operator makes. `final`: the outputs
    shown are what the metric reads (false for an intermediate step of a multi-step program).
    `kind`: the kind of edit the operator policy asks for, one of the operator's `kinds` ("": the
    operator chooses)."""

    failures: tuple[EvidenceItem, ...] = ()
    successes: tuple[EvidenceItem, ...] = ()
    donors: tuple[Playbook, ...] = ()
    seed: int = 0
    final: bool = True
    kind: str = ""


class Operator(Protocol):
    """An edit operator: proposes edits to a parent playbook from evidence.

    `name` is its key in `search.operators` and the journal, and is stamped on its edits. `needs_lm`:
    it calls an LM (it then runs on the backend's workers, and its tokens count as editor usage).
    `applies(parent, evidence)` says whether it can edit this parent on this evidence; an operator
    that does not apply is never drawn. `propose` makes up to `n` attempts and returns a Proposal
    holding the edits it could read (possibly none, with `error` and the raw LM text saying why), and
    its LM cost; it never raises for a bad LM answer. The edits of one proposal make one child.
    An operator may also list `kinds`, the edit kinds it can be asked for (`Evidence.kind`); the
    operator policy then draws the kind too, as an arm of its own (`spl_opt.engine.operator_choice`).
    """

    name: str
    needs_lm: bool

    def applies(self, parent: Playbook, evidence: Evidence) -> bool: ...

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal: ...


class Member(Record):
    """A population member: a candidate with its full validation evaluation."""

    candidate: Candidate
    evaluation: Evaluation

    @property
    def point(self) -> tuple[float, int]:
        """(validation accuracy, minus prompt tokens), both to maximize: the member's place on the
        accuracy/length plane, and its rank (better validation accuracy, then shorter prompt)."""
        return (self.evaluation.objectives.accuracy, -self.evaluation.objectives.length_tokens)


class Selector(Protocol):
    """Chooses parents to edit and survivors to keep.

    `parents` returns `k` members (repeats allowed) drawn with `rng`; `survivors` returns at most
    `size` members, never dropping one that is best on accuracy.
    """

    def parents(self, population: Sequence[Member], k: int, rng: random.Random) -> list[Member]: ...

    def survivors(self, population: Sequence[Member], size: int) -> list[Member]: ...


class Ledger(Protocol):
    """Records the search for people and tools: every member, and every child rejected at screening.

    Recording the same candidate twice (a resumed run replays its history) records it once.
    """

    def record_member(self, member: Member) -> None: ...

    def record_rejected(self, candidate: Candidate, minibatch_accuracy: float) -> None: ...


class Backend(Protocol):
    """Where task and editor calls run: threads of this process, or Ray actors.

    `submit` runs `prompt` over `examples` and returns one future per example, in order. Examples
    submitted with the same `affinity` (a candidate id) go to the same worker, back to back, so a local
    model reuses the KV cache of the shared system prompt. A future fails with `WorkerLost` when its
    worker died; any other failure is recorded on the ExampleResult, never raised.
    `propose` runs an LM editor operator (by name) on a worker and never raises except `WorkerLost`.
    """

    def submit(
        self, affinity: str, prompt: str, examples: Sequence[Example]
    ) -> list[Future[ExampleResult]]: ...

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Future[Proposal]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProgramOutput:
    """What a program produced for one example: the raw value (text or a DSPy prediction), its text,
    and for a multi-step program each step's input and output (the evidence for editing that step)."""

    value: object
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    steps: tuple[Step, ...] = ()
    truncated: bool = False  # stopped at the token limit (any of its LM calls, for a multi-step program)


class Program(Protocol):
    """A task program that runs with a given system prompt.

    `run` may raise (LM errors, unparseable output); the evaluator records that as a failed example
    (an exception with a `steps` attribute keeps the trace of the steps that ran before it).
    `system_prompt` is a rendered playbook; a multi-step program reads its parts with `split_prompt`.
    `cache_namespace` identifies the program and its LM, so cached results are never mixed up.
    A program whose outputs set `truncated` says so with a class attribute `reports_truncation = True`
    (otherwise nothing is known about cut-off outputs, and reports say "not reported").
    """

    cache_namespace: str

    def run(self, system_prompt: str, example: Example) -> ProgramOutput: ...


class BatchProgram(Program, Protocol):
    """A program that can also run up to `batch_size` examples under one prompt in one call.

    `run_batch` returns one output per example, in order, equal to what `run` would give each up to
    the LM's own nondeterminism; it raises as `run` does, failing the whole batch. Workers use it when
    present (`Worker.run_many`).
    """

    batch_size: int

    def run_batch(self, system_prompt: str, examples: Sequence[Example]) -> list[ProgramOutput]: ...


class Scorer(Protocol):
    """Scores one output: returns (score in [0, 1], feedback text for the editor), optionally with a
    third item, the outcome ("correct", "wrong" or "no_answer": unreadable or in the wrong form; the
    worker makes a cut-off output that was not right "no_answer" too);
    without it the outcome follows from the score."""

    def __call__(
        self, example: Example, output: ProgramOutput
    ) -> tuple[float, str] | tuple[float, str, str]: ...
