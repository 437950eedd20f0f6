"""The work items an optimizer hands out: evaluations and editor proposals, under keys."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Evaluation, Example, Playbook, Proposal
from spl_opt.evaluators.task import EvalRequest


@dataclass(frozen=True)
class ProposeRequest:
    """Ask operator `operator` for edits to `parent` (iteration `iteration`)."""

    iteration: int
    operator: str
    parent: Playbook
    evidence: Evidence
    attempts: int


Work = EvalRequest | ProposeRequest
Iteration = Generator[Work, Evaluation | Proposal, None]


@dataclass(frozen=True)
class Pending:
    """Work the optimizer wants done, under `key`; tell() its result with that key."""

    key: str
    work: Work


def evidence_from(
    evaluation: Evaluation, batch: Sequence[Example], donors: Sequence[Playbook], seed: int
) -> Evidence:
    """What an editor sees of a parent's minibatch evaluation: its failures and successes, the donors."""
    items = [  # a failed call says nothing about the prompt: it is no evidence
        EvidenceItem(
            input=ex.input_text(),
            target=ex.target,
            output=r.output,
            feedback=r.feedback,
            score=r.score,
            outcome=r.outcome,
        )
        for ex, r in zip(batch, evaluation.results, strict=True)
        if r.scored
    ]
    return Evidence(
        failures=tuple(x for x in items if x.score < 1.0),
        successes=tuple(x for x in items if x.score >= 1.0),
        donors=tuple(donors),
        seed=seed,
    )
