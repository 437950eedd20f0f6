"""Edit operators that need no LM: ablate, merge, compress, worked example, and a given note.

Each follows the Operator seam (`applies`, `propose(parent, evidence, n) -> Proposal`) and returns no
edit when it cannot make one (nothing to delete, no donor, nothing to compress).
"""

from __future__ import annotations

import re

from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Edit, Playbook, Proposal

_FILLER = re.compile(
    r"\b(please|always make sure to|make sure to|remember to|it is important to|be sure to|note that|"
    r"you should|carefully|really|very|just|basically|actually)\b\s*",
    re.IGNORECASE,
)


def _seed_of(evidence: Evidence) -> int:
    return evidence.seed


class AblateOperator:
    """Delete one strategy (chosen by the evidence seed): measures whether a strategy earns its tokens."""

    name = "ablate"
    needs_lm = False

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return bool(parent.strategies)

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        if not parent.strategies:
            return Proposal(editor_id=self.name, error="no strategy to delete")
        strategies = parent.strategies
        picks = [
            strategies[(_seed_of(evidence) + i) % len(strategies)] for i in range(min(n, len(strategies)))
        ]
        return Proposal(
            editor_id=self.name,
            edits=tuple(
                Edit(
                    op="delete",
                    strategy_id=s.id,
                    rationale=f"ablate '{s.title or s.id}'",
                    editor_id=self.name,
                )
                for s in picks[:1]
            ),
        )


class MergeOperator:
    """Add a donor playbook's strategies that the parent lacks (crossover of two parents)."""

    name = "merge"
    needs_lm = False

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return bool(evidence.donors)

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        have = {" ".join(s.text.lower().split()) for s in parent.strategies}
        for donor in evidence.donors:
            new = [s for s in donor.strategies if " ".join(s.text.lower().split()) not in have]
            if new:
                edits = tuple(
                    Edit(
                        op="add",
                        title=s.title,
                        text=s.text,
                        rationale=f"merged from {donor.id}",
                        editor_id=self.name,
                    )
                    for s in new
                )
                return Proposal(editor_id=self.name, edits=edits)
        return Proposal(editor_id=self.name, error="no donor strategy to merge")


def compress_text(text: str) -> str:
    """Drop filler words and repeated sentences; keep meaning-bearing text unchanged."""
    out: list[str] = []
    seen: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        short = " ".join(_FILLER.sub("", sentence).split())
        if short and short[0].islower() and sentence[:1].isupper():
            short = short[0].upper() + short[1:]
        key = short.lower().rstrip(".!?")
        if short and key not in seen:
            seen.add(key)
            out.append(short)
    return " ".join(out)


class CompressOperator:
    """Shorten the longest strategy that has filler or repetition (or the preamble when it has)."""

    name = "compress"
    needs_lm = False

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return True

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        for s in sorted(parent.strategies, key=lambda s: -len(s.text)):
            short = compress_text(s.text)
            if short and short != s.text:
                return Proposal(
                    editor_id=self.name,
                    edits=(
                        Edit(
                            op="revise",
                            strategy_id=s.id,
                            title=s.title,
                            text=short,
                            rationale="compress",
                            editor_id=self.name,
                        ),
                    ),
                )
        short = compress_text(parent.preamble)
        if short and short != parent.preamble:
            return Proposal(
                editor_id=self.name,
                edits=(Edit(op="preamble", text=short, rationale="compress", editor_id=self.name),),
            )
        return Proposal(editor_id=self.name, error="nothing to compress")


class WorkedExampleOperator:
    """Add a worked example (few-shot) from the minibatch, up to `max_shots`, then replace one.

    A success is shown with its own output when that is short (a format and reasoning that scored),
    else with its answer only; a failure is shown with its expected answer. An example already shown
    is not shown twice, nor a failure whose answer is unknown.
    """

    name = "worked-example"
    needs_lm = False

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return True

    title = "Worked example"
    max_shots = 3
    max_output_chars = 300
    max_chars = 1200

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        shown = [s for s in parent.strategies if s.title.startswith(self.title)]
        fresh = [
            x
            for x in (*evidence.successes, *evidence.failures)
            if (x.score >= 1.0 or x.target) and not any(x.input in s.text for s in shown)
        ]
        if not fresh:
            return Proposal(editor_id=self.name, error="no new example to show")
        pick = fresh[evidence.seed % len(fresh)]
        short_success = pick.score >= 1.0 and len(pick.output) <= self.max_output_chars
        answer = re.sub(r"^\s*A:\s*", "", pick.output) if short_success else pick.target
        text = " ".join(f"Q: {pick.input} A: {answer}".split())
        if len(text) > self.max_chars:
            return Proposal(editor_id=self.name, error="example too long to show")
        if len(shown) < self.max_shots:
            edit = Edit(
                op="add",
                title=f"{self.title} {len(shown) + 1}",
                text=text,
                rationale="add a worked example",
                editor_id=self.name,
            )
        else:
            target = shown[evidence.seed % len(shown)]
            edit = Edit(
                op="revise",
                strategy_id=target.id,
                title=target.title,
                text=text,
                rationale="replace a worked example",
                editor_id=self.name,
            )
        return Proposal(editor_id=self.name, edits=(edit,))


class AnswerFormatOperator:
    """State the data's answer convention as a rule: the exact final-answer line the scorer reads.

    Built from the task's training targets (never from validation or test data): a small label set
    ("yes"/"no", "(A)".."(E)") is listed; numeric targets ask for a number; free-form targets are
    shown by one example. Applies once per playbook, and only where the output shown is the one the
    scorer reads (not to an intermediate step); like every edit, it is kept only if it scores.
    """

    name = "answer-format"
    needs_lm = False

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return evidence.final

    title = "Answer format"

    def __init__(self, targets: tuple[str, ...], labels: tuple[str, ...] | None, numeric: bool) -> None:
        if numeric:
            self.rule = "End your reply with a last line 'Answer: N', where N is only the final number."
        elif labels:
            shown = ", ".join(labels)
            self.rule = f"End your reply with a last line 'Answer: X', where X is exactly one of: {shown}."
        else:
            example = min(targets, key=len) if targets else "..."
            self.rule = (
                f"End your reply with a last line 'Answer: ' followed by only the final answer, "
                f"written exactly in the expected form (for example: Answer: {example})."
            )

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        if any(s.title == self.title for s in parent.strategies):
            return Proposal(editor_id=self.name, error="the playbook states the answer format already")
        return Proposal(
            editor_id=self.name,
            edits=(
                Edit(
                    op="add",
                    title=self.title,
                    text=self.rule,
                    rationale="state the answer convention of the data",
                    editor_id=self.name,
                ),
            ),
        )


class NoteOperator:
    """Add one given note: a strategy written elsewhere (by a person, or a larger model offline),
    proposed as an edit so that it is measured like any other, never assumed to help."""

    needs_lm = False

    def __init__(self, text: str, *, title: str = "Note", name: str = "note") -> None:
        if not text.strip():
            raise ValueError("a note needs text")
        self.text, self.title, self.name = " ".join(text.split()), title, name  # as apply_edit stores it

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return all(s.text != self.text for s in parent.strategies)

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        if not self.applies(parent, evidence):
            return Proposal(editor_id=self.name, error=f"the playbook has the {self.name} note already")
        edit = Edit(op="add", title=self.title, text=self.text, rationale="given", editor_id=self.name)
        return Proposal(editor_id=self.name, edits=(edit,))


class PlaceboOperator(NoteOperator):
    """Add a note that says nothing about the task: a control, not an optimizer. How much its children
    move the score measures how much any change to the prompt moves the task model, the floor an
    edit's measured gain has to clear before it says anything about the edit."""

    text = "These notes are kept for the assistant."

    def __init__(self) -> None:
        super().__init__(PlaceboOperator.text, name="placebo")
