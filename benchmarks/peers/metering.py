"""Counting LM calls at the engine, below DSPy's (disabled) cache: one task-LM call is one rollout."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import dspy

from spl_opt.lm.config import LMConfig


@dataclass
class Usage:
    """LM calls of one role, counted at the engine: every call made (failed ones too), tokens, seconds."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def started(self) -> None:
        with self._lock:
            self.calls += 1

    def finished(
        self, input_tokens: int, output_tokens: int, seconds: float, *, failed: bool = False
    ) -> None:
        with self._lock:
            self.errors += failed
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.seconds += seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": round(self.seconds, 2),
        }


class CountingEngine:
    """A `dspy.LM` engine that counts each request into `usage` before passing it to `inner`.

    Copies of the LM (DSPy deep-copies modules and LMs) keep counting into the same `usage`.
    """

    def __init__(self, inner: Any, usage: Usage) -> None:
        self.inner = inner
        self.usage = usage

    def complete(self, request: Any) -> Any:
        self.usage.started()
        start = time.monotonic()
        try:
            response = self.inner.complete(request)
        except BaseException:
            self.usage.finished(0, 0, time.monotonic() - start, failed=True)
            raise
        usage = response.usage
        self.usage.finished(
            (usage.input_tokens or 0) if usage else 0,
            (usage.output_tokens or 0) if usage else 0,
            time.monotonic() - start,
        )
        return response

    def stream(self, request: Any) -> Any:
        from dspy.lm15 import response_to_events

        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:
        pass

    def __deepcopy__(self, memo: dict[int, Any]) -> CountingEngine:
        return self


def dspy_model_name(config: LMConfig) -> str:
    """The model string `spl_opt.lm.config.build_lm` gives the dspy.LM (embedded:x -> embedded/x)."""
    return config.model.replace(":", "/", 1) if config.is_embedded else config.model


def counted_lm(engine: Any, config: LMConfig, usage: Usage) -> Any:
    """A `dspy.LM` over `engine` with the sampling settings of `config`, counting into `usage`."""
    return dspy.LM(
        dspy_model_name(config),
        engine=CountingEngine(engine, usage),
        cache=False,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
    )
