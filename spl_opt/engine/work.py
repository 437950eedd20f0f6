"""The work items an optimizer hands out: evaluations and editor proposals, under keys."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Evaluation, Example, Playbook, Proposal
from spl_opt.engine.blame import Blame, blame
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


def step_evidence(
    evaluation: Evaluation,
    batch: Sequence[Example],
    step: str,
    donors: Sequence[Playbook],
    seed: int,
    *,
    final: bool = False,
) -> Evidence:
    """What an editor of one step of a multi-step program sees: that step's own input and output in
    each example's trace, scored by the program's final result (a step that did not run shows the
    example's input and what the steps before it wrote). `final`: this step's output is the program's."""
    items = []
    for ex, r in zip(batch, evaluation.results, strict=True):
        if not r.scored:
            continue
        own = next((s for s in r.steps if s.name == step), None)
        if own is not None:
            shown_input, shown_output = own.input, own.output
        else:
            earlier = "\n".join(s.output for s in r.steps)
            shown_input, shown_output = "\n".join(x for x in (ex.input_text(), earlier) if x), ""
        items.append(
            EvidenceItem(
                input=shown_input,
                target=ex.target,
                output=shown_output,
                feedback=f"The program's final answer: {r.feedback}" if r.feedback else "",
                score=r.score,
                outcome=r.outcome,
            )
        )
    return Evidence(
        failures=tuple(x for x in items if x.score < 1.0),
        successes=tuple(x for x in items if x.score >= 1.0),
        donors=tuple(donors),
        seed=seed,
        final=final,
    )


def edit_target(
    evaluation: Evaluation,
    batch: Sequence[Example],
    whole: Playbook,
    donors: Sequence[Playbook],
    iteration: int,
    seed: int,
) -> tuple[Blame | None, Evidence]:
    """What to edit in a parent and what the operator sees: for a multi-part playbook, the blamed
    step (`spl_opt.engine.blame`) and that step's evidence; otherwise None and the whole evidence."""
    if not whole.parts:
        return None, evidence_from(evaluation, batch, donors, seed)
    names = [p.name for p in whole.parts]
    found = blame(evaluation, batch, names, iteration)
    donor_parts = [d.part(found.step) for d in donors]
    final = found.step == names[-1]
    return found, step_evidence(evaluation, batch, found.step, donor_parts, seed, final=final)
