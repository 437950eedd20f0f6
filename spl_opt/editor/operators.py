"""Edit operators that need no LM: ablate, merge, compress, and worked example.

Each follows the Editor seam (`propose(parent, evidence, n) -> Proposal`) and returns no edit when it
does not apply (nothing to delete, no donor, nothing to compress).
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

    editor_id = "ablate"

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        if not parent.strategies:
            return Proposal(editor_id=self.editor_id, error="no strategy to delete")
        strategies = parent.strategies
        picks = [
            strategies[(_seed_of(evidence) + i) % len(strategies)] for i in range(min(n, len(strategies)))
        ]
        return Proposal(
            editor_id=self.editor_id,
            edits=tuple(
                Edit(
                    op="delete",
                    strategy_id=s.id,
                    rationale=f"ablate '{s.title or s.id}'",
                    editor_id=self.editor_id,
                )
                for s in picks[:1]
            ),
        )


class MergeOperator:
    """Add a donor playbook's strategies that the parent lacks (crossover of two parents)."""

    editor_id = "merge"

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
                        editor_id=self.editor_id,
                    )
                    for s in new
                )
                return Proposal(editor_id=self.editor_id, edits=edits)
        return Proposal(editor_id=self.editor_id, error="no donor strategy to merge")


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

    editor_id = "compress"

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        for s in sorted(parent.strategies, key=lambda s: -len(s.text)):
            short = compress_text(s.text)
            if short and short != s.text:
                return Proposal(
                    editor_id=self.editor_id,
                    edits=(
                        Edit(
                            op="revise",
                            strategy_id=s.id,
                            title=s.title,
                            text=short,
                            rationale="compress",
                            editor_id=self.editor_id,
                        ),
                    ),
                )
        short = compress_text(parent.preamble)
        if short and short != parent.preamble:
            return Proposal(
                editor_id=self.editor_id,
                edits=(Edit(op="preamble", text=short, rationale="compress", editor_id=self.editor_id),),
            )
        return Proposal(editor_id=self.editor_id, error="nothing to compress")


class WorkedExampleOperator:
    """Turn a solved training example into a worked example (or replace the current one).

    Prefers a success whose output is short (it shows a format that scored); otherwise a failure's
    input with its expected answer.
    """

    editor_id = "worked-example"
    title = "Worked example"
    max_chars = 500

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        shots = sorted(
            (s for s in evidence.successes if len(s.output) <= self.max_chars), key=lambda s: len(s.output)
        )
        if shots:
            pick = shots[_seed_of(evidence) % len(shots)]
            text = f"Q: {pick.input} A: {pick.output}"
        elif evidence.failures:
            pick = evidence.failures[_seed_of(evidence) % len(evidence.failures)]
            text = f"Q: {pick.input} A: {pick.target}"
        else:
            return Proposal(editor_id=self.editor_id, error="no example to show")
        text = " ".join(text.split())
        if len(text) > 2 * self.max_chars:
            return Proposal(editor_id=self.editor_id, error="example too long to show")
        current = next((s for s in parent.strategies if s.title == self.title), None)
        if current is not None:
            edit = Edit(
                op="revise",
                strategy_id=current.id,
                title=self.title,
                text=text,
                rationale="replace worked example",
                editor_id=self.editor_id,
            )
        else:
            edit = Edit(
                op="add",
                title=self.title,
                text=text,
                rationale="add worked example",
                editor_id=self.editor_id,
            )
        return Proposal(editor_id=self.editor_id, edits=(edit,))
