"""Run configuration files (TOML or YAML) and the commented example `spl-opt init` writes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from spl_opt.core.errors import ConfigError

EXAMPLE = """\
# spl-opt run configuration. Every key is optional; command-line flags override what is set here.
# Validate and run with: spl-opt optimize --config {name}

task = "letters"              # letters | gsm8k | bbh:<name> | any name with data_file
# data_file = "my_task.jsonl" # your own BBH-style .json or .jsonl (input/target or question/answer)
# data_dir = "../shared/data" # where gsm8k/ and bbh/ live (default: the packaged copy)
n_train = 30                  # examples the editor learns from
n_val = 30                    # examples that decide which prompts survive
n_test = 50                   # held-out examples, never seen during search
seed = 0
# seed_prompt = "You are a helpful assistant."
# editor = "editors/mine"     # a tuned editor (spl-opt tune-editor): its program and operator priors
# run_dir = "runs/my-run"     # default: runs/<task>-<time>
# storage = "sqlite:///ledger.db"  # Optuna ledger; default: optuna.journal in the run dir
# mlflow = "sqlite:///mlflow.db"  # log parameters, metrics and artifacts to MLflow
quiet = false                 # plain log lines instead of the live progress display

[task_lm]                     # the model whose system prompt is learned
model = "embedded:qwen-0.5b"  # embedded:<name|path.gguf> or any dspy.LM model string
temperature = 0.0
max_tokens = 256              # generation budget per call: fix it when comparing prompts
# api_base = "http://127.0.0.1:8000/v1"
# api_key_env = "OPENAI_API_KEY"  # the NAME of the variable; keys are never written to disk
# timeout = 60.0                  # seconds an API call may take before it fails (not retried)

[editor_lm]                   # the model that proposes edits
model = "embedded:qwen-1.5b"
temperature = 0.7
max_tokens = 384

[budget]                      # the search stops at the first limit reached
max_rollouts = 300            # task-LM example evaluations during search
# max_iterations = 50
# max_wall_seconds = 1200
# patience = 15               # iterations without a better prompt

[search]
minibatch_size = 5            # children are screened on this many train examples first
population_size = 16
editor_attempts = 2           # LM editor samples per proposal until one parses
guard_alpha = 0.1             # keep the seed unless a learned prompt beats it (val sign test p); 1 = off
parallel = 1                  # iterations in flight at once (raise for remote APIs)

[backend]                     # where calls run; a session setting (resume may run elsewhere)
kind = "thread"               # thread | ray
workers = 1                   # evaluation threads or Ray actors (1 thread for the embedded model)
# chunk_size = 1              # threads: examples per task (default: a candidate's all, for KV reuse)
# address = "auto"            # ray: join a running cluster (auto or HOST:PORT); unset starts Ray here
worker_concurrency = 1        # ray: calls in flight per actor (1 for a local model, more for APIs)
cpus_per_worker = 1.0         # ray: CPUs each actor reserves

[search.operators]            # relative weights; 0 disables an operator
editor = 0.4
worked-example = 0.3
answer-format = 0.15
ablate = 0.1
merge = 0.1
compress = 0.05
"""


def load_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a .toml, .yaml or .yml file; ConfigError naming the file (and line) otherwise."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    else:
        raise ConfigError(f"{path}: config files are .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return data


def write_example(path: Path) -> Path:
    """Write the commented example configuration; refuses to overwrite a file."""
    if path.exists():
        raise ConfigError(f"{path} exists already; choose another path")
    path.write_text(EXAMPLE.format(name=path.name), encoding="utf-8")
    return path


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
