"""The LM editor: a DSPy module that reflects on failures and proposes one playbook edit per call.

Being a `dspy.Module`, its instructions can themselves be compiled by any DSPy optimizer, with the
journal's accepted and rejected edits as training data.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from spl_opt.core.protocols import Evidence
from spl_opt.core.records import EDIT_OPS, EDITOR_KINDS, Edit, Playbook, Proposal
from spl_opt.editor import solutions
from spl_opt.editor.hygiene import clean_strategy_text, clean_title, copies_foreign, resembles

EDITOR_INSTRUCTIONS = """\
You improve the system prompt of an AI assistant. The prompt is a playbook: a preamble plus strategies, \
short general notes on how to solve this kind of task. Read the task examples the assistant got wrong \
(with its output, the expected answer and feedback) and the ones it got right. Diagnose the cause of the \
failures, then propose ONE edit that would fix them without breaking the successes:
- add: a new strategy (a general procedure or an output-format rule, never one example's answer);
- revise: rewrite the strategy with the given id;
- delete: remove the strategy with the given id when it misleads the assistant;
- preamble: rewrite the preamble.
The assistant answers in plain text and cannot run code: write strategies as plain-language \
instructions, never code. Keep strategies short (one to three sentences) and concrete. If answers are \
right but in the wrong form, state the exact answer format."""

REQUESTS = {
    "add": "add a new strategy",
    "revise": "revise one existing strategy (name its id)",
    "delete": "delete the strategy that misleads the assistant (name its id)",
    "preamble": "rewrite the preamble",
}


_INPUT = re.compile(r"^Input: (.*?)(?=\nAssistant output:|\n\n### |\Z)", re.MULTILINE | re.DOTALL)


def render_playbook(playbook: Playbook) -> str:
    """The playbook as the editor sees it, strategies tagged with their ids."""
    lines = [f"Preamble: {playbook.preamble}"]
    lines += [f"[{s.id}] {s.title}: {s.text}" for s in playbook.strategies]
    if not playbook.strategies:
        lines.append("(no strategies yet)")
    return "\n".join(lines)


def render_evidence(evidence: Evidence, limit: int = 400, max_items: int = 4) -> str:
    """Failures first, then successes (at most `max_items` of each), outputs cut to their last `limit`
    characters: a small editor model reads a short, focused evidence block best. A requested kind of
    edit (`Evidence.kind`) ends the block."""
    blocks = []
    for title, items in (("WRONG", evidence.failures), ("RIGHT", evidence.successes)):
        for i, item in enumerate(items[:max_items], 1):
            out = item.output if len(item.output) <= limit else "..." + item.output[-limit:]
            blocks.append(
                f"### {title} example {i}\nInput: {item.input}\nAssistant output: {out}\n"
                f"Expected answer: {item.target}\nFeedback: {item.feedback}"
            )
    if evidence.kind in REQUESTS:
        blocks.append(f"Requested edit: {evidence.kind}: {REQUESTS[evidence.kind]}.")
    return "\n\n".join(blocks)


def parse_op(raw: str) -> str | None:
    """The edit operation named in `raw`, read leniently (small models add words and punctuation)."""
    words = re.findall(r"[a-z]+", raw.lower())
    return next((w for w in words if w in EDIT_OPS), None)


def _signature() -> Any:
    import dspy

    class ProposeEdit(dspy.Signature):
        playbook: str = dspy.InputField(desc="the current playbook; strategies are tagged with [ids]")
        evidence: str = dspy.InputField(
            desc="examples with the assistant's output, expected answer, feedback"
        )
        diagnosis: str = dspy.OutputField(desc="the cause of the failures, in one or two sentences")
        operation: str = dspy.OutputField(desc="one of: add, revise, delete, preamble")
        strategy_id: str = dspy.OutputField(desc="the [id] to revise or delete; 'none' for add or preamble")
        title: str = dspy.OutputField(desc="a title of two to five words for the strategy")
        text: str = dspy.OutputField(desc="the new strategy or preamble text, one to three sentences")

    return ProposeEdit.with_instructions(EDITOR_INSTRUCTIONS)


def _module_class() -> type:
    import dspy

    class EditorModule(dspy.Module):
        """Reflect on evidence, then propose one edit."""

        def __init__(self) -> None:
            super().__init__()
            self.propose = dspy.Predict(_signature())

        def forward(self, playbook: str, evidence: str) -> Any:
            return self.propose(playbook=playbook, evidence=evidence)

    return EditorModule


def new_editor_module() -> Any:
    """An untuned EditorModule (a `dspy.Module`: compile it, save it, load it)."""
    return _module_class()()


class DSPyEditor:
    """The Operator seam over `EditorModule`, run on `lm` (any `dspy.LM`): up to `n` sampled attempts,
    stopping at the first edit that parses and fits the parent. Texts are cleaned by
    `spl_opt.editor.hygiene` (copied evidence cut, at most three sentences); an edit with no text
    left, or one that copies the edit of a demonstration from another task with that task's own
    words (`spl_opt.editor.hygiene.copies_foreign`), is unusable. Asked for kind "example", it
    writes a worked solution of a failure instead (`spl_opt.editor.solutions`, its own predictor)."""

    name = "editor"
    needs_lm = True
    kinds = EDITOR_KINDS

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return bool(evidence.failures)  # it learns from failures

    def __init__(self, lm: Any, module: Any = None, temperature: float = 0.7) -> None:
        self.lm = lm
        self.module = module if module is not None else new_editor_module()
        self.temperature = temperature
        self._solver: Any = None

    def foreign_demos(self, evidence: Evidence) -> list[tuple[str, str]]:
        """(edit text, the inputs it was written for) of the module's demonstrations written for
        examples unlike `evidence`'s. A tuned editor shown demonstrations from other tasks sometimes
        writes one of them out again, whatever the task in front of it; reusing a demonstration of
        the same task is fine."""
        mine = evidence_inputs(evidence)
        out = []
        for predictor in self.module.predictors():
            for demo in predictor.demos:
                theirs = " ".join(_INPUT.findall(str(demo.get("evidence"))))
                if demo.get("text") and not resembles(mine, theirs):
                    out.append((str(demo.get("text")), theirs))
        return out

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        if evidence.kind == solutions.KIND:
            return self.propose_solution(parent, evidence, n)
        foreign, inputs = self.foreign_demos(evidence), evidence_inputs(evidence)

        def read(pred: Any) -> tuple[str, Edit | None, str]:
            raw = "\n".join(f"{k}: {v}" for k, v in pred.items())
            edit = edit_from_prediction(parent, pred, self.name)
            if edit is None:
                return raw, None, f"unusable edit: {raw[:300]}"
            if (copy := copies_foreign(edit.text, foreign, inputs)) is not None:
                return raw, None, f"unusable edit: it copies another task's demonstration ({copy[:80]!r})"
            return raw, edit, ""

        return self._attempts(
            n, lambda: self.module(playbook=render_playbook(parent), evidence=render_evidence(evidence)), read
        )

    def propose_solution(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        """Up to `n` attempts at a worked solution of one failure shown (`solutions.solvable`, picked
        by `evidence.seed`) that reaches its expected answer."""
        import dspy

        fresh = solutions.solvable(parent, evidence)
        if not fresh:
            return Proposal(editor_id=self.name, error="no failure with a known answer to solve")
        item = fresh[evidence.seed % len(fresh)]
        if self._solver is None:
            self._solver = dspy.Predict(solutions.solve_signature())

        def read(pred: Any) -> tuple[str, Edit | None, str]:
            raw = str(pred.get("solution", ""))
            text = solutions.solution_text(item, raw)
            if text is None:
                return raw, None, f"unusable solution: it does not reach {item.target!r} in a few steps"
            return raw, solutions.solution_edit(parent, text, evidence.seed, self.name), ""

        return self._attempts(n, lambda: self._solver(question=item.input, answer=item.target), read)

    def _attempts(
        self, n: int, predict: Callable[[], Any], read: Callable[[Any], tuple[str, Edit | None, str]]
    ) -> Proposal:
        """Up to `n` calls of `predict` on the editor LM until `read` (raw text, the edit or None, why
        not) finds a usable edit; an exception is a failed attempt, its LM text kept as `raw`."""
        import dspy

        errors: list[str] = []
        raw = ""
        tokens = (0, 0)
        start = time.perf_counter()
        lm = self.lm.copy(temperature=self.temperature)
        edit: Edit | None = None
        for _ in range(n):
            try:
                with dspy.context(lm=lm, track_usage=True):
                    pred = predict()
                tokens = _add_usage(tokens, pred)
                raw, edit, error = read(pred)
                if edit is not None:
                    break
                errors.append(error)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                raw = getattr(exc, "lm_response", "") or raw
        return Proposal(
            editor_id=self.name,
            edits=(edit,) if edit is not None else (),
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            latency=time.perf_counter() - start,
            error="; ".join(errors) or None,
            raw=str(raw)[:2000],
        )


def _add_usage(tokens: tuple[int, int], pred: Any) -> tuple[int, int]:
    """(input, output) tokens plus those a prediction's LM calls used."""
    usage = (pred.get_lm_usage() or {}).values()
    return (
        tokens[0] + sum(u.get("prompt_tokens") or 0 for u in usage),
        tokens[1] + sum(u.get("completion_tokens") or 0 for u in usage),
    )


def evidence_inputs(evidence: Evidence) -> str:
    """The inputs of every example `evidence` shows, in one text."""
    return " ".join(item.input for item in (*evidence.failures, *evidence.successes))


def edit_from_prediction(parent: Playbook, pred: Any, editor_id: str = "editor") -> Edit | None:
    """The edit an EditorModule prediction names, fitted to `parent`; None when it is unusable."""
    op = parse_op(str(pred.get("operation", "")))
    text = clean_strategy_text(str(pred.get("text", "")))
    sid_match = re.search(r"s\d+", str(pred.get("strategy_id", "")))
    sid = sid_match.group(0) if sid_match else None
    if op in ("revise", "delete") and (sid is None or parent.strategy(sid) is None):
        op = "add" if op == "revise" else None  # a revise of an unknown id is read as an add
    if op is None or (op != "delete" and not text):
        return None
    return Edit(
        op=op,
        strategy_id=sid if op in ("revise", "delete") else None,
        title=clean_title(str(pred.get("title", ""))),
        text=text,
        rationale=" ".join(str(pred.get("diagnosis", "")).split())[:500],
        editor_id=editor_id,
    )
