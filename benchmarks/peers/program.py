"""The one program every optimizer learns the system prompt of, and the one metric they all score by.

GEPA and MIPROv2 optimize `SystemPromptProgram`, a `dspy.Module` with one `dspy.Predict` whose
signature instructions are the system prompt; it runs under `PlainChatAdapter`, which sends the
instructions as the system message and the input as the user message (no DSPy field markup) and
takes the whole reply as the answer. The request that reaches the engine is the same object, field
for field, as `spl_opt.programs.ChatProgram`'s (a unit test checks this), so the learned instructions
of any optimizer are a system prompt for ChatProgram, and the harness scores every prompt on test the
same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dspy
from dspy.adapters.base import Adapter

from spl_opt.core.protocols import ProgramOutput, Scorer
from spl_opt.core.records import Example, TaskData
from spl_opt.engine.runner import task_scorer

ANSWER = "answer"


def _input_text(names: Sequence[str], inputs: dict[str, Any]) -> str:
    return Example(id="", inputs={k: str(inputs[k]) for k in names}, target="").input_text()


class PlainChatAdapter(Adapter):
    """Formats a single-output signature as ChatProgram's call: the instructions as the system message,
    the inputs as the user message (the single field's value, or `name: value` lines), and parses the
    whole reply, empty or not, as the output field. Demos (none in this benchmark) become turns."""

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


class SystemPromptProgram(dspy.Module):
    """One plain chat call whose system prompt is the single predictor's instructions."""

    def __init__(self, input_fields: Sequence[str], instructions: str) -> None:
        super().__init__()
        fields: dict[str, Any] = {name: dspy.InputField() for name in input_fields}
        fields[ANSWER] = dspy.OutputField()
        self.predict = dspy.Predict(dspy.Signature(fields, instructions))

    def forward(self, **inputs: Any) -> Any:
        with dspy.context(adapter=PLAIN_CHAT):
            return self.predict(**inputs)


def program_prompt(program: Any) -> str:
    """The learned system prompt of a SystemPromptProgram; refuses a program that gained demos."""
    (predictor,) = program.predictors()
    if predictor.demos:
        raise RuntimeError("the learned program has demos: it is no longer a system-prompt-only program")
    return str(predictor.signature.instructions)


def _key(inputs: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in inputs.items()))


def to_dspy(examples: Sequence[Example]) -> list[Any]:
    """dspy.Examples with the task's input fields marked as inputs and the target as `answer`."""
    return [dspy.Example(**ex.inputs, **{ANSWER: ex.target}).with_inputs(*ex.inputs) for ex in examples]


class SharedMetric:
    """The task scorer over a prediction's free-text answer, for DSPy optimizers.

    `score(gold, pred)` -> (score, feedback) with the exact scorer spl uses; `gold` is matched to the
    task example by its inputs.
    """

    def __init__(self, task: TaskData) -> None:
        self.scorer: Scorer = task_scorer(task)
        self.examples = {_key(ex.inputs): ex for ex in (*task.train, *task.val, *task.test)}

    def score(self, gold: Any, pred: Any) -> tuple[float, str]:
        example = self.examples[_key(gold.inputs().toDict())]
        text = str(getattr(pred, ANSWER, "") or "") if pred is not None else ""
        scored = self.scorer(example, ProgramOutput(value=text, text=text))
        return scored[0], scored[1]

    def gepa(
        self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
    ) -> Any:
        value, feedback = self.score(gold, pred)
        return dspy.Prediction(score=value, feedback=feedback)

    def plain(self, gold: Any, pred: Any, trace: Any = None) -> float:
        return self.score(gold, pred)[0]
