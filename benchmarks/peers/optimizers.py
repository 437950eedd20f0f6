"""The optimizers the harness can run, by name: the unoptimized seed prompt, spl, and the peers."""

from __future__ import annotations

from benchmarks.peers.program import seed_prompt
from benchmarks.peers.results import OPTIMIZER_ORDER
from benchmarks.peers.spec import Outcome, RunSpec


def run_seed(spec: RunSpec) -> Outcome:
    """No optimization: the task's seed prompt (the harness measures its validation accuracy)."""
    return Outcome(
        prompt=seed_prompt(spec.program, spec.task),
        val_accuracy=None,
        curve=[],
        optimizer_rollouts=0,
        stop_reason="no search",
    )


def run_optimizer(name: str, spec: RunSpec) -> Outcome:
    """Run optimizer `name` (one of OPTIMIZER_ORDER); each peer's module loads only when it runs."""
    if name == "seed":
        return run_seed(spec)
    if name == "spl":
        from benchmarks.peers.spl import run_spl

        return run_spl(spec)
    if name == "gepa":
        from benchmarks.peers.gepa import run_gepa

        return run_gepa(spec)
    if name == "mipro" and spec.program != "chat":
        raise ValueError("mipro runs only on --program chat (its two-step run is not implemented)")
    if name == "mipro":
        from benchmarks.peers.mipro import run_mipro

        return run_mipro(spec)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZER_ORDER)}")
