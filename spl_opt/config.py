"""Run configuration, validated with pydantic; errors name the key and the problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from spl_opt.core.errors import ConfigError
from spl_opt.core.records import EDIT_OPS, EDITOR_KINDS, Record, content_hash
from spl_opt.lm.config import LMConfig
from spl_opt.search.budget import Budget

DEFAULT_OPERATORS = {
    "editor": 0.4,
    "worked-example": 0.3,
    "answer-format": 0.15,
    "ablate": 0.1,
    "merge": 0.1,
    "compress": 0.05,
}


class SearchConfig(Record):
    """How the population moves."""

    minibatch_size: int = Field(5, ge=1, le=200)
    population_size: int = Field(16, ge=2, le=10_000)
    editor_attempts: int = Field(2, ge=1, le=10)
    editor_kinds: tuple[str, ...] = Field(
        EDIT_OPS,
        description="the kinds of edit the operator policy may ask the LM editor for; 'example' (a worked "
        "solution of a failure, `spl_opt.editor.solutions`) is opt-in: measured on held-out tasks it "
        "gained nothing (benchmarks/README.md, sixth measurement)",
    )
    operators: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_OPERATORS))
    operator_priors: dict[str, dict[str, tuple[float, float]]] = Field(
        default_factory=dict,
        description="the operator policy's (alpha, beta) priors by evidence context (format, wrong, clean) "
        "and operator, e.g. learned by `spl-opt tune-editor`; they replace the defaults they name",
    )
    guard_alpha: float | None = Field(
        0.1,
        gt=0,
        le=1,
        description="a learned prompt replaces the seed only if it beats it on validation with a one-sided "
        "sign test p <= this; 1 (or None) takes the validation best unguarded",
    )
    parallel: int = Field(1, ge=1, le=256, description="iterations in flight at once")

    @field_validator("operator_priors")
    @classmethod
    def _known_contexts(
        cls, value: dict[str, dict[str, tuple[float, float]]]
    ) -> dict[str, dict[str, tuple[float, float]]]:
        for context, table in value.items():
            if context not in ("format", "wrong", "clean"):
                raise ValueError(f"unknown evidence context {context!r}; known: format, wrong, clean")
            for name, (alpha, beta) in table.items():
                if alpha <= 0 or beta <= 0:
                    raise ValueError(f"{context}.{name}: prior counts must be > 0, got ({alpha}, {beta})")
        return value

    @field_validator("editor_kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EDITOR_KINDS))
        if unknown:
            raise ValueError(f"unknown edit kind(s) {unknown}; known: {', '.join(EDITOR_KINDS)}")
        return value

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(DEFAULT_OPERATORS)
        if unknown:
            raise ValueError(f"unknown operator(s) {sorted(unknown)}; known: {sorted(DEFAULT_OPERATORS)}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("operator weights must be >= 0 with at least one > 0")
        return value


class BackendConfig(Record):
    """Where and how wide this session runs the calls. `thread`: this process, on `workers` threads;
    `ray`: `workers` Ray actors. Not part of what the run is: a resume may change any of it."""

    kind: Literal["thread", "ray"] = "thread"
    workers: int = Field(1, ge=1, le=256, description="evaluation threads, or Ray actors")
    chunk_size: int | None = Field(
        None, ge=1, description="examples per thread task (default: a candidate's all, for KV-cache reuse)"
    )
    address: str | None = Field(
        None, description="Ray: None starts a local instance; 'auto' or 'HOST:PORT' joins a cluster"
    )
    worker_concurrency: int = Field(1, ge=1, le=1024, description="Ray: calls in flight per actor")
    cpus_per_worker: float = Field(1.0, ge=0.0, description="Ray: CPUs each actor reserves")

    @model_validator(mode="after")
    def _address_needs_ray(self) -> BackendConfig:
        if self.address is not None and self.kind != "ray":
            raise ValueError("address is for the ray backend; set kind = 'ray'")
        return self


class RunConfig(Record):
    """Everything a CLI run needs; saved as `config.json` in the run directory (no secrets)."""

    task: str = "letters"
    data_file: str | None = None
    data_dir: str | None = None
    n_train: int = Field(30, ge=1)
    n_val: int = Field(30, ge=1)
    n_test: int = Field(50, ge=1)
    seed: int = 0
    seed_prompt: str | None = None
    program: str | None = Field(
        None,
        description="a DSPy program to optimize, as an importable factory `module:function` "
        "(each predictor gets its own playbook); default: one chat call",
        pattern=r"^[\w.]+:\w+$",
    )
    task_lm: LMConfig = Field(default_factory=LMConfig)
    editor_lm: LMConfig = Field(
        default_factory=lambda: LMConfig(model="embedded:qwen-1.5b", temperature=0.7, max_tokens=384)
    )
    editor: str | None = Field(
        None,
        description="a tuned editor (`spl-opt tune-editor`): its directory, or builtin:embedded",
    )
    budget: Budget = Field(default_factory=lambda: Budget(max_rollouts=300))
    search: SearchConfig = Field(default_factory=SearchConfig)
    run_dir: str | None = None
    storage: str | None = Field(
        None, description="Optuna storage URL; default: a journal file in the run dir"
    )
    backend: BackendConfig = Field(default_factory=BackendConfig)
    quiet: bool = False
    mlflow: str | None = Field(None, description="MLflow tracking URI to log the run to")

    def identity(self) -> dict[str, Any]:
        """What the run is: every setting but the session's (`SESSION_FIELDS`). Two configurations
        with equal identities make the same calls and decisions; a resume may change the rest."""
        return self.model_dump(mode="json", exclude=set(SESSION_FIELDS))

    @property
    def run_id(self) -> str:
        """A short hash of `identity()`."""
        return content_hash(json.dumps(self.identity(), sort_keys=True))


SESSION_FIELDS = frozenset({"run_dir", "quiet", "mlflow", "backend"})  # how a session runs and reports


def _moved_session_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Configurations saved before `workers` and `chunk_size` moved from `search` to `backend`."""
    search = data.get("search")
    if not isinstance(search, dict) or not {"workers", "chunk_size"} & set(search):
        return data
    moved = {k: search[k] for k in ("workers", "chunk_size") if k in search}
    backend = data.get("backend")
    backend = backend if isinstance(backend, dict) else {}
    return {
        **data,
        "search": {k: v for k, v in search.items() if k not in moved},
        "backend": {**moved, **backend},
    }


def validate_config(data: dict[str, Any]) -> RunConfig:
    """A RunConfig from plain data, or a ConfigError naming each bad key."""
    try:
        return RunConfig.model_validate(_moved_session_keys(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def default_run_dir(config: RunConfig) -> Path:
    """runs/<task>-<timestamp> under the current directory."""
    import time

    safe = config.task.replace(":", "-").replace("/", "-")
    return Path("runs") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"
