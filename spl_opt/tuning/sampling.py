"""Fresh rollouts for the editor: many measured edits per task, without a search around them.

A search at a small budget asks its LM editor once or twice (its rollouts go to screening and
validation), too few edits to learn from. `EditSampler` asks directly. The parent playbook is run
once on a pool of training examples; each sample shows the editor the results on a minibatch of that
pool as evidence, applies its edit, and runs the child on the whole pool. The record is an
`EditOutcome` whose minibatch scores are on the examples shown and whose `parent_val`/`child_val`
are on the pool's other examples, the ones the edit was not written from: a rule that only fits the
failures it saw does not gain there.

Every sample of one sampler (seed, task) sees the same pool and the same minibatches in the same
order, so two editors sampled with the same indices are compared on identical evidence.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from spl_opt.backends.local import local_evaluator
from spl_opt.core.edits import EditError, apply_edits
from spl_opt.core.protocols import Evidence, Operator
from spl_opt.core.records import Candidate, Evaluation, Example, Playbook, TaskData
from spl_opt.engine.runner import task_scorer
from spl_opt.engine.work import evidence_from
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.task import TaskEvaluator
from spl_opt.programs import ChatProgram
from spl_opt.tuning.outcomes import EditOutcome

SAMPLE_KINDS = ("", "add", "preamble")  # what a sample asks for, in turn ("": the editor chooses)


def _accuracy(evaluation: Evaluation, ids: set[str]) -> float | None:
    scores = [r.score for r in evaluation.results if r.scored and r.example_id in ids]
    return sum(scores) / len(scores) if scores else None


@dataclass(frozen=True)
class Sample:
    """Sample `index` of a sampler: its minibatch (shown) and the rest of the pool (held out)."""

    index: int
    shown: tuple[Example, ...]
    held: tuple[Example, ...]
    kind: str


class EditSampler:
    """Measured edits on one task: `pool` training examples (chosen by `seed`), minibatches of
    `minibatch` of them as evidence, edits to `parent` (default: the task's seed playbook)."""

    def __init__(
        self,
        task: TaskData,
        task_lm: object,
        *,
        parent: Playbook | None = None,
        pool: int = 12,
        minibatch: int = 4,
        seed: int = 0,
        cache: EvalCache | None = None,
        evaluator: TaskEvaluator | None = None,
    ) -> None:
        if minibatch >= pool:
            raise ValueError(f"minibatch ({minibatch}) must be smaller than pool ({pool})")
        self.task = task
        self.parent = parent or Playbook(preamble=task.seed_prompt)
        self.seed = seed
        self.minibatch = minibatch
        examples = list(task.train)
        random.Random(f"sample:{seed}:{task.name}").shuffle(examples)
        self.pool = tuple(examples[:pool])
        self.evaluator = evaluator or local_evaluator(
            ChatProgram(task_lm), task_scorer(task), cache if cache is not None else EvalCache()
        )

    def sample_at(self, index: int) -> Sample:
        """The examples and kind of sample `index` (the same for every editor)."""
        rng = random.Random(f"sample:{self.seed}:{self.task.name}:{index}")
        order = list(self.pool)
        rng.shuffle(order)
        kind = SAMPLE_KINDS[index % len(SAMPLE_KINDS)]
        return Sample(index, tuple(order[: self.minibatch]), tuple(order[self.minibatch :]), kind)

    def _run(self, playbook: Playbook) -> Evaluation:
        return self.evaluator.evaluate(Candidate(playbook=playbook), self.pool, "train")

    def evidence(self, sample: Sample) -> Evidence | None:
        """What the editor is shown for `sample`; None when the parent failed none of its examples."""
        parent = self._run(self.parent)
        by_id = {r.example_id: r for r in parent.results}
        shown = parent.model_copy(update={"results": tuple(by_id[e.id] for e in sample.shown)})
        evidence = evidence_from(shown, sample.shown, (), seed=sample.index)
        return evidence.model_copy(update={"kind": sample.kind}) if evidence.failures else None

    def propose(self, operator: Operator, index: int, run: str = "") -> EditOutcome | None:
        """One sample's edit by `operator`, measured; None when there was nothing to learn from."""
        sample = self.sample_at(index)
        evidence = self.evidence(sample)
        if evidence is None:
            return None
        proposal = operator.propose(self.parent, evidence, 1)
        outcome = EditOutcome(
            run=run or f"sample-s{self.seed}",
            task=self.task.name,
            iteration=index,
            operator=operator.name,
            needs_lm=operator.needs_lm,
            parent_id=Candidate(playbook=self.parent).id,
            parent=self.parent,
            evidence=evidence,
            edits=proposal.edits,
            error=proposal.error,
        )
        return self.measure(outcome, sample)

    def measure(self, outcome: EditOutcome, sample: Sample) -> EditOutcome:
        """`outcome` with the child's and the parent's scores on the shown and the held-out examples."""
        try:
            child = apply_edits(self.parent, outcome.edits) if outcome.edits else None
        except EditError as exc:
            return outcome.model_copy(update={"skipped": f"edit does not fit: {exc}"})
        if child is None:
            return outcome.model_copy(update={"skipped": "no usable edit"})
        before, after = self._run(self.parent), self._run(child)
        shown = {e.id for e in sample.shown}
        held = {e.id for e in sample.held}
        parent_score, child_score = _accuracy(before, shown), _accuracy(after, shown)
        accepted = None if parent_score is None or child_score is None else child_score > parent_score
        return outcome.model_copy(
            update={
                "child_id": Candidate(playbook=child).id,
                "parent_score": parent_score,
                "child_score": child_score,
                "accepted": accepted,
                "parent_val": _accuracy(before, held),
                "child_val": _accuracy(after, held),
            }
        )


def sample_outcomes(
    samplers: Sequence[EditSampler], operator: Operator, indices: Sequence[int], *, echo: bool = False
) -> list[EditOutcome]:
    """The measured edits by `operator` of samples `indices` of each sampler (none for a sample
    whose parent failed none of its examples)."""
    out = []
    for sampler in samplers:
        for index in indices:
            outcome = sampler.propose(operator, index)
            if outcome is None:
                continue
            out.append(outcome)
            if echo:
                print(
                    f"[sample {sampler.task.name} #{index}] gain shown {_fmt(outcome.gain)}, "
                    f"held out {_fmt(outcome.val_gain)}{'' if outcome.edits else ' (no usable edit)'}",
                    flush=True,
                )
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"
