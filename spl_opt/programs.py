"""Task programs that run with a candidate's system prompt: a plain chat call, or any DSPy program."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example, Playbook, content_hash


class ChatProgram:
    """One LM call: the candidate's prompt as the system message, the example's input as the user message.

    The output is free text; scorers read the final answer from it. `lm` is any `dspy.LM`. When its
    engine decodes batches (the embedded model) and sampling is greedy, `run_batch` runs up to
    `batch_size` examples as parallel sequences sharing the prompt's KV prefix (a `BatchProgram`).
    """

    def __init__(self, lm: Any, *, namespace: str | None = None, batch_size: int = 16) -> None:
        self.lm = lm
        self.cache_namespace = namespace or content_hash("chat", str(lm.model))
        engine = getattr(lm, "engine", None)
        greedy = not lm.kwargs.get("temperature")
        self._batch = getattr(engine, "complete_batch", None) if greedy else None
        self.batch_size = batch_size if self._batch is not None else 1

    def run_batch(self, system_prompt: str, examples: Sequence[Example]) -> list[ProgramOutput]:
        if self._batch is None:
            return [self.run(system_prompt, example) for example in examples]
        outs = self._batch(
            system_prompt or None,
            [example.input_text() for example in examples],
            max_tokens=self.lm.kwargs.get("max_tokens", 256),
        )
        return [
            ProgramOutput(
                value=out["text"],
                text=out["text"],
                input_tokens=out["input_tokens"],
                output_tokens=out["output_tokens"],
            )
            for out in outs
        ]

    def run(self, system_prompt: str, example: Example) -> ProgramOutput:
        from dspy.lm15 import Config, Message, Request

        kwargs = self.lm.kwargs
        request = Request(
            model=self.lm.model,
            system=system_prompt or None,
            messages=(Message.user(example.input_text()),),
            config=Config(
                temperature=kwargs.get("temperature", 0.0), max_tokens=kwargs.get("max_tokens", 256)
            ),
        )
        response = self.lm(request)
        usage = response.usage
        return ProgramOutput(
            value=response.text or "",
            text=response.text or "",
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
        )


def predictors(module: Any) -> list[Any]:
    """The predictors of a DSPy module, in DSPy's named order."""
    return [p for _, p in module.named_predictors()]


def seed_playbook(module: Any) -> Playbook:
    """The starting playbook of a DSPy program: its single predictor's instructions as the preamble."""
    preds = predictors(module)
    if not preds:
        raise ValueError("the DSPy program has no predictors to optimize")
    return Playbook(preamble=preds[0].signature.instructions if len(preds) == 1 else "")


def apply_prompt(module: Any, prompt: str) -> Any:
    """A deep copy of `module` with the learned prompt applied.

    A single predictor's instructions become the prompt; with several predictors the prompt is appended
    to each predictor's own instructions, so they keep their distinct roles.
    """
    program = module.deepcopy()
    preds = predictors(program)
    for pred in preds:
        base = pred.signature.instructions if len(preds) > 1 else ""
        text = f"{base}\n\n{prompt}".strip() if base else prompt
        pred.signature = pred.signature.with_instructions(text)
    return program


class DSPyProgram:
    """Runs a DSPy module with the candidate's prompt as its instructions, on a given `dspy.LM`.

    Example inputs are passed as keyword arguments; the prediction is the output value and its fields
    joined as text. Copies of the module with a prompt applied are kept per (thread, prompt).
    """

    def __init__(self, module: Any, lm: Any, *, namespace: str | None = None) -> None:
        self.module = module
        self.lm = lm
        sig = "|".join(str(p.signature) for p in predictors(module))
        self.cache_namespace = namespace or content_hash("dspy", type(module).__name__, sig, str(lm.model))
        self._local = threading.local()

    def _program_for(self, prompt: str) -> Any:
        cached = getattr(self._local, "entry", None)
        if cached is None or cached[0] != prompt:
            cached = (prompt, apply_prompt(self.module, prompt))
            self._local.entry = cached
        return cached[1]

    def run(self, system_prompt: str, example: Example) -> ProgramOutput:
        import dspy

        program = self._program_for(system_prompt)
        with dspy.context(lm=self.lm, track_usage=True):
            prediction = program(**copy.deepcopy(example.inputs))
        usage = prediction.get_lm_usage() or {}
        tokens_in = sum(u.get("prompt_tokens") or 0 for u in usage.values())
        tokens_out = sum(u.get("completion_tokens") or 0 for u in usage.values())
        text = "\n".join(f"{k}: {v}" for k, v in prediction.items())
        return ProgramOutput(value=prediction, text=text, input_tokens=tokens_in, output_tokens=tokens_out)
