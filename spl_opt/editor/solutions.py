"""Worked solutions: the LM editor explains, step by step, a failure whose answer is known.

The worked-example operator, which needs no LM, shows a failure as "Q: input A: answer", and of all
edits it is the one that most often gains on examples it was not written from. The LM editor's
general rules, on the embedded models, rarely do. Asked for an edit of kind "example", the editor
instead writes a short solution of one failure it was shown that reaches that failure's expected
answer (as STaR's rationalization does), and the edit adds "Q: input A: solution Answer: answer". A
solution that never reaches the expected answer is unusable: the answer is told, not found.
"""

from __future__ import annotations

import re
from typing import Any

from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Edit, Playbook

KIND = "example"
TITLE = "Worked solution"
MAX_SHOTS = 2
MAX_CHARS = 1500
MAX_SOLUTION_WORDS = 150
CONCLUSION_CHARS = 160  # where a solution states its answer

SOLVE_INSTRUCTIONS = """\
You write a worked example for the system prompt of a small AI assistant. You are given a task input \
and its correct answer. Write a short step-by-step solution (at most five short steps, plain \
language, no code) that reasons from the input to exactly that answer. Do not say that the answer \
was given."""


def solve_signature() -> Any:
    import dspy

    class WorkedSolution(dspy.Signature):
        question: str = dspy.InputField(desc="the task input")
        answer: str = dspy.InputField(desc="the correct answer")
        solution: str = dspy.OutputField(desc="a short step-by-step solution reaching the correct answer")

    return WorkedSolution.with_instructions(SOLVE_INSTRUCTIONS)


def solvable(parent: Playbook, evidence: Evidence) -> list[EvidenceItem]:
    """The failures shown with a known answer whose input the playbook does not show already; none
    when the outputs shown are not what the metric reads (an intermediate step)."""
    if not evidence.final:
        return []
    return [
        f for f in evidence.failures if f.target and not any(f.input in s.text for s in parent.strategies)
    ]


def _key(text: str) -> str:
    """Lower-case words and numbers (thousands separators dropped: 600,000 is 600000)."""
    return " ".join(re.findall(r"[a-z0-9]+", re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())))


def reaches(solution: str, answer: str) -> bool:
    """Whether the conclusion of `solution` (its last characters) states `answer`: as written when the
    answer has punctuation ("(A)": a bare "a" is any article), else word for word, case aside."""
    tail, answer = solution[-CONCLUSION_CHARS:], answer.strip()
    if re.search(r"[^\w\s]", answer):
        return answer.lower() in tail.lower()
    want = _key(answer)
    return bool(want) and f" {want} " in f" {_key(tail)} "


_MARKER = re.compile(r"\[\[ ## \w+ ## \]\]")  # DSPy's field markers, which a small model may leave in


def solution_text(item: EvidenceItem, solution: str) -> str | None:
    """The strategy text for `item` solved by `solution`, or None when the solution (its final
    "Answer:" line included) does not reach the expected answer, or is too long. The solution's own
    "Answer:" line is replaced by the expected one."""
    solution = _MARKER.sub("", solution).strip()
    if not reaches(solution, item.target):
        return None
    reasoning = " ".join(re.sub(r"(?im)^\s*\**answer\**\s*:.*$", "", solution).split())
    if not reasoning:
        return None
    if len(reasoning.split()) > MAX_SOLUTION_WORDS:
        return None
    text = " ".join(f"Q: {item.input} A: {reasoning} Answer: {item.target}".split())
    return text if len(text) <= MAX_CHARS else None


def solution_edit(parent: Playbook, text: str, seed: int, editor_id: str) -> Edit:
    """Add the worked solution `text`, or, with `MAX_SHOTS` shown already, replace one of them."""
    shown = [s for s in parent.strategies if s.title.startswith(TITLE)]
    if len(shown) < MAX_SHOTS:
        title = f"{TITLE} {len(shown) + 1}"
        return Edit(op="add", title=title, text=text, rationale="a worked solution", editor_id=editor_id)
    old = shown[seed % len(shown)]
    return Edit(
        op="revise",
        strategy_id=old.id,
        title=old.title,
        text=text,
        rationale="replace a worked solution",
        editor_id=editor_id,
    )
