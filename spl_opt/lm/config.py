"""Language-model configuration: a validated record, and the one place that turns it into a `dspy.LM`.

Model strings: `embedded:<name>` (an in-process llama.cpp model, see `spl_opt.lm.models`),
`embedded:/path/to/model.gguf`, or any `dspy.LM` model string (`openai/gpt-4o-mini`,
`ollama_chat/qwen2.5`, ...). Secrets never live here: `api_key_env` names an environment variable
read when the LM is built, so configs and run directories hold no keys.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from spl_opt.core.errors import ConfigError, LMError
from spl_opt.core.records import Record, content_hash

EMBEDDED = "embedded:"


class LMConfig(Record):
    """How to build one LM (the task LM or the editor LM)."""

    model: str = "embedded:qwen-0.5b"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    api_base: str | None = None
    api_key_env: str | None = None
    n_ctx: int = Field(4096, ge=256)
    n_threads: int = Field(0, ge=0, description="llama.cpp threads; 0 = all cores")
    timeout: float = Field(
        60.0,
        gt=0,
        description="seconds an API call may take before it fails (not retried: a hung server costs this)",
    )

    @property
    def is_embedded(self) -> bool:
        return self.model.startswith(EMBEDDED)

    @property
    def embedded_name(self) -> str:
        return self.model[len(EMBEDDED) :]

    def check_key(self) -> None:
        """A one-line ConfigError if `api_key_env` names a variable that is not set (fail before a search)."""
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise ConfigError(
                f"the environment variable {self.api_key_env} (--api-key-env, for {self.model}) is not set"
            )

    def cache_key(self) -> str:
        """Identifies what the LM would answer: model and sampling settings, never secrets or threads."""
        return content_hash(self.model, str(self.temperature), str(self.max_tokens), self.api_base or "")


def build_lm(config: LMConfig, *, prefix_cache: bool = True) -> Any:
    """A `dspy.LM` for `config` (DSPy's own cache off: spl-opt caches evaluations itself)."""
    import dspy

    if config.is_embedded:
        from spl_opt.lm.llama_engine import LlamaEngine

        engine = LlamaEngine(
            config.embedded_name, n_ctx=config.n_ctx, n_threads=config.n_threads, prefix_cache=prefix_cache
        )
        engine.load()  # a missing or broken model is an error now, not a failure on every example
        return dspy.LM(
            config.model.replace(":", "/", 1),
            engine=engine,
            cache=False,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
        )
    config.check_key()
    kwargs: dict[str, Any] = {}
    if config.api_base:
        kwargs["api_base"] = config.api_base
    if config.api_key_env:
        kwargs["api_key"] = os.environ.get(config.api_key_env)
    try:
        return dspy.LM(
            config.model,
            cache=False,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            num_retries=0,  # the worker retries failed calls with backoff, and never a timeout
            timeout=config.timeout,
            **kwargs,
        )
    except Exception as exc:
        raise LMError(f"cannot build the LM {config.model!r}: {exc}") from exc
