"""DSPy programs shipped with spl-opt, and the plain chat adapter they run under.

`extract_then_answer` is a two-step program (note the facts that matter, then answer from them), the
built-in multi-step program: `spl-opt optimize --program spl_opt.dspy_programs:extract_then_answer`
learns one playbook per step. Under `PlainChatAdapter` each step is one chat call with the step's
instructions as the system message and its inputs as the user message, with no DSPy field markup, so
a small local model is not asked to write DSPy's output format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dspy
from dspy.adapters.base import Adapter

from spl_opt.core.records import Example


def _input_text(names: Sequence[str], inputs: dict[str, Any]) -> str:
    return Example(id="", inputs={k: str(inputs[k]) for k in names}, target="").input_text()


class PlainChatAdapter(Adapter):
    """Formats a single-output signature as `spl_opt.programs.ChatProgram`'s call: the instructions as
    the system message, the inputs as the user message (the single field's value, or `name: value`
    lines), and parses the whole reply, empty or not, as the output field. Demos become turns."""

    def format(
        self, signature: Any, demos: list[dict[str, Any]], inputs: dict[str, Any]
    ) -> list[dict[str, Any]]:
        names = list(signature.input_fields)
        (output,) = signature.output_fields
        messages: list[dict[str, Any]] = []
        if signature.instructions:
            messages.append({"role": "system", "content": signature.instructions})
        for demo in demos:
            messages.append({"role": "user", "content": _input_text(names, demo)})
            messages.append({"role": "assistant", "content": str(demo.get(output, ""))})
        messages.append({"role": "user", "content": _input_text(names, inputs)})
        return messages

    def parse(self, signature: Any, completion: str) -> dict[str, Any]:
        (output,) = signature.output_fields
        return {output: completion}

    def _call_postprocess(
        self, processed_signature: Any, original_signature: Any, outputs: list[Any], lm: Any, lm_kwargs: Any
    ) -> list[dict[str, Any]]:
        texts = [(o.get("text") if isinstance(o, dict) else o) or "" for o in outputs]
        return [self.parse(original_signature, text) for text in texts]


PLAIN_CHAT = PlainChatAdapter()

EXTRACT = (
    "Read the question and list the facts and quantities needed to answer it, one per line. "
    "Do not answer the question."
)
ANSWER = "Answer the question using the facts listed. Think step by step, then end with 'Answer: <answer>'."


class ExtractThenAnswer(dspy.Module):
    """Two steps: `extract` notes the facts the question needs; `answer` answers from the question
    and those facts. Any input fields are accepted and shown to both steps as the question."""

    def __init__(self, extract: str = EXTRACT, answer: str = ANSWER) -> None:
        super().__init__()
        self.extract = dspy.Predict(dspy.Signature("question -> facts", extract))
        self.answer = dspy.Predict(dspy.Signature("question, facts -> answer", answer))

    def forward(self, **inputs: Any) -> Any:
        question = _input_text(list(inputs), inputs)
        with dspy.context(adapter=PLAIN_CHAT):
            facts = self.extract(question=question).facts
            return self.answer(question=question, facts=facts)


def extract_then_answer() -> ExtractThenAnswer:
    """The factory `--program spl_opt.dspy_programs:extract_then_answer` names."""
    return ExtractThenAnswer()
