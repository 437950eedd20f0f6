"""Which backend a run's calls go to, and how editor proposals reach it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any

from evaluators.task import RETRY_DELAY, retry_later
from evaluators.worker import Worker
from search.backends import SerialBackend, ThreadBackend
from spl_opt.config import RunConfig
from spl_opt.core.errors import LMError, WorkerLost
from spl_opt.core.protocols import Backend, Editor, Evidence, Program, Scorer
from spl_opt.core.records import Playbook, Proposal, TaskData
from spl_opt.engine.work import ProposeRequest
from spl_opt.engine.workers import WorkerSpec
from spl_opt.lm.config import LMConfig

LM_OPERATORS = frozenset({"editor"})  # operators that call an LM: they run on the backend's workers


def local_backend(
    program: Program, scorer: Scorer, operators: Mapping[str, Editor], config: RunConfig
) -> Backend:
    """Threads of this process (inline for one worker), sharing the program, scorer and LM editors."""
    editors = {name: op for name, op in operators.items() if name in LM_OPERATORS}
    worker = Worker(program, scorer, editors)
    workers = config.search.workers
    return ThreadBackend(worker, workers, config.search.chunk_size) if workers > 1 else SerialBackend(worker)


def propose_with_retry(
    backend: Backend,
    request: ProposeRequest,
    on_lost: Callable[[str], None],
    retry_delay: float = RETRY_DELAY,
) -> Future[Proposal]:
    """The backend's proposal; one lost with its worker is retried once (after `retry_delay`, from a
    thread of its own), then recorded as a failed proposal (no edits), like any editor failure. Any
    other error reaches the waiter."""
    out: Future[Proposal] = Future()

    def attempt(number: int) -> None:
        try:
            future = backend.propose(request.operator, request.parent, request.evidence, request.attempts)
        except BaseException as exc:
            out.set_exception(exc)
            return
        future.add_done_callback(partial(settle, number))

    def settle(number: int, future: Future[Proposal]) -> None:
        try:
            exc = future.exception()
            if exc is None:
                out.set_result(future.result())
            elif not isinstance(exc, WorkerLost):
                out.set_exception(exc)
            else:
                what = f"proposal {request.iteration} ({request.operator}): worker lost ({exc})"
                on_lost(f"{what}; {'retrying once' if number == 1 else 'recorded as failed'}")
                if number == 1:
                    retry_later(retry_delay, attempt, 2)
                else:
                    error = f"the editor worker was lost twice: {exc}"
                    out.set_result(Proposal(editor_id=request.operator, error=error))
        except BaseException as exc:
            if not out.done():
                out.set_exception(exc)

    attempt(1)
    return out


class BackendEditor:
    """An LM operator that runs on the backend's workers (which build its LM themselves)."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.editor_id = f"backend:{name}"

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        return self.backend.propose(self.name, parent, evidence, n).result()


def ray_backend(config: RunConfig, task: TaskData, namespace: str) -> Any:
    """Ray actors that each build the task LM (and, on first use, the editor LM) from `config`."""
    from search.ray_backend import RayBackend

    uses_editor = config.search.operators.get("editor", 0) > 0
    task_lm, editor_lm = config.task_lm, config.editor_lm
    if config.search.workers > 1:  # actors may share a node: a local model uses the CPUs its actor reserves
        threads = max(1, int(config.backend.cpus_per_worker))
        task_lm, editor_lm = _with_threads(task_lm, threads), _with_threads(editor_lm, threads)
    spec = WorkerSpec.for_task(task, task_lm, editor_lm if uses_editor else None, namespace)
    try:
        return RayBackend(
            spec,
            config.search.workers,
            concurrency=config.backend.worker_concurrency,
            address=config.backend.address,
            cpus_per_worker=config.backend.cpus_per_worker,
        )
    except WorkerLost as exc:
        raise LMError(str(exc)) from exc


def _with_threads(lm: LMConfig, threads: int) -> LMConfig:
    """An embedded model left at "all cores" limited to `threads`; any other LM as it is."""
    return lm.model_copy(update={"n_threads": threads}) if lm.is_embedded and not lm.n_threads else lm
