"""Backends that run a function over items (see the Backend protocol): serial and threaded.

An exception raised by `fn` becomes an Err for that item only; KeyboardInterrupt and other
BaseExceptions that are not Exceptions propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Self, TypeVar

from spl_opt.core.protocols import Err, Ok

T = TypeVar("T")
R = TypeVar("R")


def _attempt(fn: Callable[[T], R], item: T) -> Ok[R] | Err:
    """`fn(item)` as Ok, or its exception as Err."""
    try:
        return Ok(fn(item))
    except Exception as e:
        return Err(error=f"{type(e).__name__}: {e}", kind=type(e).__name__)


class _ClosingBackend:
    """Context-manager support: `with Backend() as b:` closes `b` on exit."""

    def close(self) -> None:
        """Release resources; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SerialBackend(_ClosingBackend):
    """Runs items one after another in the calling thread."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Ok[R] | Err]:
        """One Ok or Err per item, in order."""
        return [_attempt(fn, item) for item in items]


class ThreadBackend(_ClosingBackend):
    """Runs items on one thread pool of `max_workers` threads, created once and reused.

    After `close()`, `map` raises RuntimeError.
    """

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="spl-opt")
        self._closed = False

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Ok[R] | Err]:
        """One Ok or Err per item, in order. On an interrupt, pending items are cancelled."""
        if self._closed:
            raise RuntimeError("ThreadBackend is closed")
        futures: list[Future[Ok[R] | Err]] = [self._executor.submit(_attempt, fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def close(self) -> None:
        """Cancel queued work, wait for running work, and release the threads; idempotent."""
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True, cancel_futures=True)
