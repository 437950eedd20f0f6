"""Which backend a run's calls go to, and how editor proposals reach it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spl_opt.backends.local import SerialBackend, ThreadBackend
from spl_opt.config import RunConfig
from spl_opt.core.errors import LMError, WorkerLost
from spl_opt.core.protocols import Backend, Evidence, Operator, Program, Scorer
from spl_opt.core.records import EDITOR_KINDS, Playbook, Proposal, TaskData
from spl_opt.engine.workers import WorkerSpec
from spl_opt.evaluators.worker import Worker
from spl_opt.lm.config import LMConfig


def local_backend(
    program: Program, scorer: Scorer, operators: Mapping[str, Operator], config: RunConfig
) -> Backend:
    """Threads of this process (inline for one worker), sharing the program, scorer and LM editors."""
    editors = {name: op for name, op in operators.items() if op.needs_lm}  # they run on workers
    worker = Worker(program, scorer, editors)
    workers = config.backend.workers
    return ThreadBackend(worker, workers, config.backend.chunk_size) if workers > 1 else SerialBackend(worker)


class BackendEditor:
    """An LM operator that runs on the backend's workers (which build its LM themselves)."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.needs_lm = True
        self.kinds = EDITOR_KINDS  # the LM editor's (`DSPyEditor.kinds`)

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return bool(evidence.failures)

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        return self.backend.propose(self.name, parent, evidence, n).result()


def ray_backend(config: RunConfig, task: TaskData, namespace: str) -> Any:
    """Ray actors that each build the task LM (and, on first use, the editor LM) from `config`."""
    from spl_opt.backends.ray import RayBackend

    uses_editor = config.search.operators.get("editor", 0) > 0
    task_lm, editor_lm = config.task_lm, config.editor_lm
    if config.backend.workers > 1:  # actors may share a node: a local model uses the CPUs its actor reserves
        threads = max(1, int(config.backend.cpus_per_worker))
        task_lm, editor_lm = _with_threads(task_lm, threads), _with_threads(editor_lm, threads)
    spec = WorkerSpec.for_task(
        task,
        task_lm,
        editor_lm if uses_editor else None,
        namespace,
        editor=config.editor,
        program=config.program,
    )
    try:
        return RayBackend(
            spec,
            config.backend.workers,
            concurrency=config.backend.worker_concurrency,
            address=config.backend.address,
            cpus_per_worker=config.backend.cpus_per_worker,
        )
    except WorkerLost as exc:
        raise LMError(str(exc)) from exc


def _with_threads(lm: LMConfig, threads: int) -> LMConfig:
    """An embedded model left at "all cores" limited to `threads`; any other LM as it is."""
    return lm.model_copy(update={"n_threads": threads}) if lm.is_embedded and not lm.n_threads else lm
