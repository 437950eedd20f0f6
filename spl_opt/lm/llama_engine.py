"""A DSPy engine (`dspy.LM(engine=...)`) over an embedded GGUF model served by its own process.

The model runs in a `spl_opt.lm.model_process.ModelProcess`, one per (model file, context size,
threads) per Python process, shared by every engine that names it: a native crash or a hang of
llama.cpp is contained there, and the call is retried in a restarted process. Consecutive calls that
share a token prefix (the system prompt) reuse the KV cache, unless `prefix_cache=False`.
`complete_batch` decodes many user messages under one system prompt as one batch.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from spl_opt.core.errors import LMError
from spl_opt.lm import cpu
from spl_opt.lm.model_process import ModelProcess, ModelSpec, shared_process
from spl_opt.lm.models import model_path


def default_threads() -> int:
    """All cores for one model process: llama.cpp threads spin, so never oversubscribe."""
    return max(1, os.cpu_count() or 1)


@dataclass
class LlamaEngine:
    """A DSPy engine over an embedded GGUF model (`model` is a name from `spl_opt.lm.models` or a path)."""

    model: str = "qwen-0.5b"
    n_ctx: int = 4096
    n_threads: int = 0
    prefix_cache: bool = True
    _seeds: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    def _path(self) -> str:
        if self.model.endswith(".gguf"):
            if not os.path.isfile(self.model):
                raise LMError(f"GGUF file not found: {self.model}")
            return self.model
        return str(model_path(self.model))

    def process(self) -> ModelProcess:
        """The model process serving this engine (shared with every engine of the same spec)."""
        spec = ModelSpec(
            self._path(), n_ctx=self.n_ctx, n_threads=self.n_threads or default_threads(), label=self.model
        )
        return shared_process(spec)

    def load(self) -> dict[str, Any]:
        """Start the model process now, load the model and self-test it; returns its load report."""
        return self.process().start()

    def describe(self) -> str:
        """One line on the running engine: its process, the CPU kernels chosen, load and self-test time."""
        process = self.process()
        info = process.info
        kernels = info.get("variant") or "a monolithic build"
        features = ", ".join(
            sorted(cpu.compiled_features(info.get("system_info", "")) & set(cpu.FEATURE_FLAGS))
        )
        amx = "; AMX repacking off" if info.get("amx_repack_off") else ""
        load, selftest = info.get("load_seconds") or 0, info.get("selftest_seconds") or 0
        return (
            f"embedded model {self.model} in process {process.pid}: llama.cpp CPU kernels {kernels} "
            f"({features or 'features unknown'}){amx}, loaded in {load:.1f} s, self-test {selftest:.1f} s"
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer (no special tokens)."""
        return int(self.process().request("tokens", text=text))

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        messages: list[dict[str, str]] = []
        system = request.system
        if system is not None:
            text = system if isinstance(system, str) else "".join(getattr(p, "text", "") for p in system)
            messages.append({"role": "system", "content": text})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        config = request.config
        out = self.process().request(
            "chat",
            messages=messages,
            temperature=0.0 if config.temperature is None else config.temperature,
            max_tokens=config.max_tokens or 512,
            stop=list(config.stop) or None,
            seed=config.seed if config.seed is not None else next(self._seeds),
            reset=not self.prefix_cache,
        )
        return Response(
            id=None,
            model=self.model,
            message=Message.assistant([TextPart(out["text"])]),
            finish_reason="length" if out["finish_reason"] == "length" else "stop",
            usage=Usage(input_tokens=out["input_tokens"], output_tokens=out["output_tokens"]),
        )

    def complete_batch(
        self, system: str | None, users: Sequence[str], *, max_tokens: int, stop: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Greedy completions of each user message under one system prompt, decoded as one batch:
        dicts with `text`, `finish_reason`, `input_tokens`, `output_tokens`, in order."""
        result: list[dict[str, Any]] = self.process().request(
            "batch", system=system, users=list(users), max_tokens=max_tokens, stop=list(stop)
        )
        return result

    def stream(self, request: Any) -> Iterator[Any]:
        from dspy.lm15 import response_to_events

        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:
        """Models stay loaded for the process: other engines may share them."""

    def dump_state(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "prefix_cache": self.prefix_cache,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LlamaEngine:
        return cls(**state)
