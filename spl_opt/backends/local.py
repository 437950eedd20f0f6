"""Backends that run calls in this process (see the Backend protocol): inline, or on a thread pool;
and `local_evaluator`, a TaskEvaluator on them.

Both share one Worker (program, scorer, LM editors). A worker never raises for a failed call; an
interrupt (KeyboardInterrupt) fails that example's future and the rest of its chunk, and reaches
whoever waits on them. Closing stops work between calls, so an interrupted run exits promptly.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import Self

from spl_opt.core.protocols import Evidence, Program, Scorer
from spl_opt.core.records import Example, ExampleResult, Playbook, Proposal
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.length import LengthCounter
from spl_opt.evaluators.task import TaskEvaluator
from spl_opt.evaluators.worker import Worker


def _run_chunk(
    worker: Worker,
    prompt: str,
    examples: Sequence[Example],
    futures: list[Future],
    stop: threading.Event | None = None,
) -> BaseException | None:
    """Run examples back to back, `worker.batch_size` at a time, completing each one's future as it
    finishes; stop early (the rest cancelled) once `stop` is set. Returns the interrupt that ended
    the chunk, if any."""
    step = worker.batch_size
    for i in range(0, len(examples), step):
        try:
            if stop is not None and stop.is_set():
                raise CancelledError("the backend was closed")
            for future, result in zip(
                futures[i : i + step], worker.run_many(prompt, examples[i : i + step]), strict=True
            ):
                future.set_result(result)
        except BaseException as exc:
            for f in futures[i:]:
                if not f.done():
                    f.set_exception(exc)
            return exc
    return None


class ClosingBackend:
    """Context-manager support: `with Backend(...) as b:` closes `b` on exit."""

    def close(self) -> None:
        """Release resources; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SerialBackend(ClosingBackend):
    """Runs every call inline, in the calling thread: `submit` returns completed futures."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._interrupt: BaseException | None = None

    def submit(self, affinity: str, prompt: str, examples: Sequence[Example]) -> list[Future[ExampleResult]]:
        """Run now. After an interrupt (it fails the rest of its chunk), refuse all further work at once."""
        if self._interrupt is not None:
            raise self._interrupt
        futures: list[Future[ExampleResult]] = [Future() for _ in examples]
        stopped = _run_chunk(self.worker, prompt, examples, futures)
        if stopped is not None and not isinstance(stopped, Exception):
            self._interrupt = stopped
        return futures

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Future[Proposal]:
        future: Future[Proposal] = Future()
        future.set_result(self.worker.propose(operator, parent, evidence, n))
        return future


class ThreadBackend(ClosingBackend):
    """Runs calls on one pool of `max_workers` threads, created once and reused.

    A submission is split into chunks of `chunk_size` examples (default: all of them), each run back
    to back on one thread; use 1 for a remote LM, where only concurrency matters. After `close()`,
    `submit` raises RuntimeError.
    """

    def __init__(self, worker: Worker, max_workers: int, chunk_size: int | None = None) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.worker = worker
        self.max_workers = max_workers
        self.chunk_size = chunk_size
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="spl-opt")
        self._stop = threading.Event()
        self._closed = False

    def submit(self, affinity: str, prompt: str, examples: Sequence[Example]) -> list[Future[ExampleResult]]:
        if self._closed:
            raise RuntimeError("ThreadBackend is closed")
        futures: list[Future[ExampleResult]] = [Future() for _ in examples]
        size = self.chunk_size or max(1, len(examples))
        for start in range(0, len(examples), size):
            chunk = slice(start, start + size)
            task = self._executor.submit(
                _run_chunk, self.worker, prompt, examples[chunk], futures[chunk], self._stop
            )
            task.add_done_callback(partial(_cancel_if_dropped, futures[chunk]))
        return futures

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Future[Proposal]:
        if self._closed:
            raise RuntimeError("ThreadBackend is closed")
        return self._executor.submit(self.worker.propose, operator, parent, evidence, n)

    def close(self) -> None:
        """Cancel queued work, let running chunks finish only their current call, release the threads;
        idempotent. Cancelled calls fail with CancelledError."""
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._executor.shutdown(wait=True, cancel_futures=True)


def _cancel_if_dropped(futures: list[Future], task: Future) -> None:
    """A chunk the executor dropped unrun (closed with work queued) fails its examples' futures."""
    if task.cancelled():
        for f in futures:
            if not f.done():
                f.set_exception(CancelledError("the backend was closed"))


def local_evaluator(
    program: Program,
    scorer: Scorer,
    cache: EvalCache | None = None,
    length: LengthCounter | None = None,
    *,
    workers: int = 1,
) -> TaskEvaluator:
    """A TaskEvaluator running `program` in this process: inline, or on `workers` threads."""
    worker = Worker(program, scorer)
    backend = SerialBackend(worker) if workers <= 1 else ThreadBackend(worker, workers)
    return TaskEvaluator(backend, namespace=program.cache_namespace, cache=cache, length=length)
