"""Which step of a multi-step program to edit: blame from the traces of a parent's minibatch.

Three signals, in this order, from the steps each failing example ran (`ExampleResult.steps`):
1. a step that gave no readable output (the program stopped at it, unparseable) is to blame;
2. a step that lost the expected answer is to blame: the step after the last one whose output states
   it, when that is not the last step;
3. the earliest step whose outputs differ between passing and failing examples: the expected answer
   is in its output for most passing examples and for few failing ones.
With no signal the steps take turns (round-robin on the iteration number). Pure logic, no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from spl_opt.core.records import Evaluation, Example, ExampleResult

GAP = 0.5  # share of passing minus share of failing examples whose step output holds the answer


@dataclass(frozen=True)
class Blame:
    """The step to edit and why (recorded with the proposal)."""

    step: str
    reason: str


def _holds(text: str, target: str) -> bool:
    """Whether `text` states `target` (case-insensitive, as a whole word or number)."""
    core = target.strip().strip("()").strip().lower()
    if not core:
        return False
    return re.search(rf"(?<![\w.]){re.escape(core)}(?![\w])", text.lower()) is not None


def _votes(result: ExampleResult, target: str, names: Sequence[str]) -> tuple[str, str] | None:
    steps = result.steps
    if result.outcome == "no_answer" and len(steps) < len(names):
        return names[len(steps)], "gave no readable output"
    having = [i for i, s in enumerate(steps) if _holds(s.output, target)]
    if having and having[-1] < len(steps) - 1:
        return steps[having[-1] + 1].name, "had the expected answer in its input and lost it"
    return None


def blame(evaluation: Evaluation, batch: Sequence[Example], names: Sequence[str], iteration: int) -> Blame:
    """The step of `names` to edit for a parent evaluated on `batch`, and the reason."""
    pairs = [(ex, r) for ex, r in zip(batch, evaluation.results, strict=True) if r.scored]
    failing = [(ex, r) for ex, r in pairs if r.score < 1.0]
    votes: Counter[str] = Counter()
    why: dict[str, str] = {}
    for ex, r in failing:
        vote = _votes(r, ex.target, names)
        if vote is not None:
            votes[vote[0]] += 1
            why.setdefault(vote[0], vote[1])
    if votes:
        (step, count), *rest = votes.most_common()
        if not rest or rest[0][1] < count:
            return Blame(step, f"{count} of {len(failing)} failures: {why[step]}")
    passing = [(ex, r) for ex, r in pairs if r.score >= 1.0]
    if passing and failing:
        for index, name in enumerate(names[:-1]):

            def share(group: list[tuple[Example, ExampleResult]], i: int = index) -> float:
                held = [len(r.steps) > i and _holds(r.steps[i].output, ex.target) for ex, r in group]
                return sum(held) / len(held)

            gap = share(passing) - share(failing)
            if gap >= GAP:
                return Blame(
                    name, f"its output holds the answer in {gap:.0%} more passing than failing examples"
                )
    return Blame(names[iteration % len(names)], "round-robin: no failure points to one step")
