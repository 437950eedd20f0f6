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

from spl_opt.core.protocols import ProgramOutput, Scorer
from spl_opt.core.records import Example, TaskData
from spl_opt.dspy_programs import PLAIN_CHAT, PlainChatAdapter
from spl_opt.engine.runner import task_scorer

__all__ = [
    "PLAIN_CHAT",
    "PlainChatAdapter",
    "SharedMetric",
    "SystemPromptProgram",
    "learned_prompt",
    "program_prompt",
    "seed_prompt",
    "student",
    "to_dspy",
]

ANSWER = "answer"


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


PROGRAMS = ("chat", "two-step")
CALLS_PER_RUN = {"chat": 1, "two-step": 2}  # task-LM calls per program run (the budget counts runs)
TWO_STEP = "spl_opt.dspy_programs:extract_then_answer"


def student(kind: str, task: TaskData) -> Any:
    """The program every optimizer starts from: the one chat call with the task's seed prompt, or the
    two-step `ExtractThenAnswer` with its own instructions."""
    if kind == "two-step":
        from spl_opt.programs import build_program

        return build_program(TWO_STEP)
    return SystemPromptProgram(list(task.train[0].inputs), task.seed_prompt)


def seed_prompt(kind: str, task: TaskData) -> str:
    """The starting prompt as the harness scores it (a multi-part playbook for two-step)."""
    if kind == "two-step":
        from spl_opt.programs import seed_playbook

        return seed_playbook(student(kind, task)).render()
    return task.seed_prompt


def learned_prompt(kind: str, program: Any) -> str:
    """The learned prompt of an optimized program: the chat call's system prompt, or each step's
    instructions as a multi-part playbook (refuses a program that gained demos)."""
    if kind != "two-step":
        return program_prompt(program)
    from spl_opt.core.records import Part, Playbook

    parts = []
    for name, predictor in program.named_predictors():
        if predictor.demos:
            raise RuntimeError("the learned program has demos: it is no longer a prompt-only program")
        parts.append(Part(name=name, playbook=Playbook(preamble=str(predictor.signature.instructions))))
    return Playbook(parts=tuple(parts)).render()


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
