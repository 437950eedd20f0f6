"""An in-process llama.cpp engine for `dspy.LM(engine=...)`.

One `Llama` instance per (model file, context size, threads) per process, loaded on first use and
shared by every engine that names it; calls into it are serialized by a lock because a llama.cpp
context is not thread safe. Consecutive calls that share a token prefix (the system prompt) reuse
the KV cache, unless `prefix_cache=False`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from spl_opt.core.errors import LMError
from spl_opt.lm.models import model_path

_instances: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_instances_lock = threading.Lock()


def default_threads() -> int:
    """All cores for one model process: llama.cpp threads spin, so never oversubscribe."""
    return max(1, os.cpu_count() or 1)


def _load(path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (path, n_ctx, n_threads)
    with _instances_lock:
        if key not in _instances:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise LMError("llama-cpp-python is not installed: pip install llama-cpp-python") from exc
            try:
                llama = Llama(
                    model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_batch=512, verbose=False, seed=0
                )
            except (ValueError, RuntimeError) as exc:
                raise LMError(f"llama.cpp could not load {path}: {exc}") from exc
            _instances[key] = (llama, threading.Lock())
        return _instances[key]


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

    def _llama(self) -> tuple[Any, threading.Lock]:
        return _load(self._path(), self.n_ctx, self.n_threads or default_threads())

    def load(self) -> None:
        """Load the model now rather than on the first call."""
        self._llama()

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer (no special tokens)."""
        llama, lock = self._llama()
        with lock:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        messages: list[dict[str, str]] = []
        system = request.system
        if system is not None:
            text = system if isinstance(system, str) else "".join(getattr(p, "text", "") for p in system)
            messages.append({"role": "system", "content": text})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        config = request.config
        llama, lock = self._llama()
        with lock:
            if not self.prefix_cache:
                llama.reset()
            out = llama.create_chat_completion(
                messages=messages,
                temperature=0.0 if config.temperature is None else config.temperature,
                max_tokens=config.max_tokens or 512,
                stop=list(config.stop) or None,
                seed=config.seed if config.seed is not None else next(self._seeds),
            )
        choice = out["choices"][0]
        usage = out.get("usage", {})
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Response(
            id=out.get("id"),
            model=self.model,
            message=Message.assistant([TextPart(choice["message"].get("content") or "")]),
            finish_reason=finish,
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens")
            ),
        )

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
