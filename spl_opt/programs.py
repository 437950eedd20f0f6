"""Task programs that run with a candidate's system prompt: a plain chat call, or any DSPy program."""

from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from spl_opt.core.errors import ConfigError
from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example, Part, Playbook, Step, content_hash, split_prompt


def _namespace(lm: Any, *parts: str) -> str:
    """A cache namespace of `parts` on `lm`: its model and, unless they are the defaults (greedy, 256
    tokens), its sampling settings, so caches written before they were part of the key stay valid."""
    settings = (lm.kwargs.get("temperature") or 0.0, lm.kwargs.get("max_tokens", 256))
    if settings == (0.0, 256):
        return content_hash(*parts, str(lm.model))
    return content_hash(*parts, str(lm.model), *map(str, settings))


def chat_namespace(lm: Any) -> str:
    """The cache namespace of a chat call on `lm` (model, and non-default sampling settings)."""
    return _namespace(lm, "chat")


class ChatProgram:
    """One LM call: the candidate's prompt as the system message, the example's input as the user message.

    The output is free text; scorers read the final answer from it. `lm` is any `dspy.LM`. When its
    engine decodes batches (the embedded model) and sampling is greedy, `run_batch` runs up to
    `batch_size` examples as parallel sequences sharing the prompt's KV prefix (a `BatchProgram`).
    """

    reports_truncation = True  # its outputs say whether they stopped at the generation limit

    def __init__(self, lm: Any, *, namespace: str | None = None, batch_size: int = 16) -> None:
        self.lm = lm
        self.cache_namespace = namespace or chat_namespace(lm)
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
                truncated=out.get("finish_reason") == "length",
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
            truncated=response.finish_reason == "length",
        )


def load_factory(ref: str) -> Callable[[], Any]:
    """The function a `module:function` reference names (a factory of DSPy programs); ConfigError,
    in one line, when it cannot be imported."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"program {ref!r}: expected an importable factory as module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"program {ref!r}: cannot import {module_name} ({exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"program {ref!r}: {module_name} has no function {attr}")
    return cast(Callable[[], Any], factory)


def build_program(ref: str) -> Any:
    """A fresh DSPy program from the factory `ref` names; ConfigError if it is not a DSPy module."""
    program = load_factory(ref)()
    if not hasattr(program, "named_predictors"):
        raise ConfigError(
            f"program {ref!r}: the factory returned {type(program).__name__}, not a DSPy module"
        )
    return program


def predictors(module: Any) -> list[Any]:
    """The predictors of a DSPy module, in DSPy's named order."""
    return [p for _, p in module.named_predictors()]


def seed_playbook(module: Any) -> Playbook:
    """The starting playbook of a DSPy program: a single predictor's instructions as the preamble; for
    several predictors one part per predictor, each starting from that predictor's instructions."""
    named = list(module.named_predictors())
    if not named:
        raise ValueError("the DSPy program has no predictors to optimize")
    if len(named) == 1:
        return Playbook(preamble=named[0][1].signature.instructions)
    return Playbook(
        parts=tuple(
            Part(name=name, playbook=Playbook(preamble=p.signature.instructions)) for name, p in named
        )
    )


def apply_prompt(module: Any, prompt: str) -> Any:
    """A deep copy of `module` with the learned prompt applied.

    A single predictor's instructions become the prompt. With several predictors, a rendered
    multi-part playbook gives each predictor its own part; any other prompt (one shared playbook) is
    appended to each predictor's own instructions, so they keep their distinct roles.
    """
    program = module.deepcopy()
    named = list(program.named_predictors())
    parts = split_prompt(prompt, [name for name, _ in named]) if len(named) > 1 else None
    for name, pred in named:
        if parts is not None:
            text = parts[name]
        else:
            base = pred.signature.instructions if len(named) > 1 else ""
            text = f"{base}\n\n{prompt}".strip() if base else prompt
        pred.signature = pred.signature.with_instructions(text)
    return program


def _fields_text(values: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in dict(values).items())


def steps_of(program: Any, trace: Sequence[Any]) -> tuple[Step, ...]:
    """The steps of a DSPy trace (predictor, inputs, prediction), named as the program names them."""
    names = {id(p): name for name, p in program.named_predictors()}
    return tuple(
        Step(
            name=names.get(id(pred), type(pred).__name__),
            input=_clip(_fields_text(inputs)),
            output=_clip(_fields_text(prediction.items())),
        )
        for pred, inputs, prediction in trace
    )


def _clip(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DSPyProgram:
    """Runs a DSPy module with the candidate's prompt as its instructions, on a given `dspy.LM`.

    Example inputs are passed as keyword arguments; the prediction is the output value and its fields
    joined as text. Copies of the module with a prompt applied are kept per (thread, prompt). An output
    is `truncated` when any LM call of the run stopped at the generation limit (read from the calls'
    history on the copy, which is cleared after each run, so it never grows).
    """

    reports_truncation = True

    def __init__(self, module: Any, lm: Any, *, namespace: str | None = None) -> None:
        self.module = module
        self.lm = lm
        sig = "|".join(str(p.signature) for p in predictors(module))
        self.cache_namespace = namespace or _namespace(lm, "dspy", type(module).__name__, sig)
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
        trace: list[Any] = []
        try:
            with dspy.context(lm=self.lm, track_usage=True, trace=trace, disable_history=False):
                prediction = program(**copy.deepcopy(example.inputs))
        except Exception as exc:
            exc.steps = steps_of(program, trace)  # type: ignore[attr-defined]
            raise
        finally:
            calls = _take_history(program)
        usage = prediction.get_lm_usage() or {}
        tokens_in = sum(u.get("prompt_tokens") or 0 for u in usage.values())
        tokens_out = sum(u.get("completion_tokens") or 0 for u in usage.values())
        text = "\n".join(f"{k}: {v}" for k, v in prediction.items())
        steps = steps_of(program, trace) if len(predictors(program)) > 1 else ()
        return ProgramOutput(
            value=prediction,
            text=text,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            steps=steps,
            truncated=any(stopped_at_limit(call.get("response")) for call in calls),
        )


def _take_history(program: Any) -> list[dict[str, Any]]:
    """The LM calls `program` (a module) recorded, emptying its and its submodules' histories."""
    calls = list(getattr(program, "history", ()))
    for _, module in program.named_sub_modules():
        history = getattr(module, "history", None)
        if isinstance(history, list):
            history.clear()
    return calls


def stopped_at_limit(response: Any) -> bool:
    """Whether an LM response in DSPy's history (a `dspy.lm15.Response`, a list of them, or a chat
    completion with choices, as LiteLLM returns) stopped at the generation limit."""
    if isinstance(response, list | tuple):
        return any(stopped_at_limit(r) for r in response)
    finish = _field(response, "finish_reason")
    if finish is not None:
        return bool(finish == "length")
    return any(_field(c, "finish_reason") == "length" for c in _field(response, "choices") or ())


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
