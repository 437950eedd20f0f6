"""Retry as a wrapper (the httpx transport pattern): a Backend over a Backend that retries calls lost
with their worker.

A call whose future fails with `WorkerLost` (its process or node died) is sent again once, after
`delay` seconds (time for the backend to notice and restart the worker), from a timer thread so the
thread delivering results never blocks. Lost a second time, it becomes a recorded failure: an
ExampleResult with outcome "error", or a Proposal with `error`; the run goes on. Any other exception
reaches the waiter unchanged. Failed LM calls inside a live worker are retried by the worker itself
(`spl_opt.evaluators.worker`); this wrapper handles only the loss of the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import TypeVar

from spl_opt.core.errors import WorkerLost
from spl_opt.core.protocols import Backend, Evidence
from spl_opt.core.records import Example, ExampleResult, Playbook, Proposal

T = TypeVar("T")
RETRY_DELAY = 1.0  # seconds before a lost call is sent again


def _later(delay: float, fn: Callable[..., None], *args: object) -> None:
    timer = threading.Timer(delay, fn, args)
    timer.daemon = True
    timer.start()


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lost_example(example: Example, exc: BaseException) -> ExampleResult:
    return ExampleResult(
        example_id=example.id,
        score=0.0,
        error=f"WorkerLost: {exc}",
        feedback=f"The evaluation worker failed twice: {_short(str(exc), 300)}",
        outcome="error",
    )


def _lost_proposal(operator: str, exc: BaseException) -> Proposal:
    return Proposal(editor_id=operator, error=f"the editor worker was lost twice: {exc}")


class RetryingBackend:
    """`inner` with calls lost with their worker retried once, then recorded as failed (see module).

    `on_lost(message)` hears of every loss; `lost_calls` counts them.
    """

    def __init__(
        self, inner: Backend, on_lost: Callable[[str], None] | None = None, delay: float = RETRY_DELAY
    ) -> None:
        self.inner = inner
        self.on_lost = on_lost
        self.delay = delay
        self.lost_calls = 0
        self._lock = threading.Lock()

    def _lost(self, what: str, exc: BaseException, attempt: int) -> None:
        with self._lock:
            self.lost_calls += 1
        if self.on_lost is not None:
            retry = "retrying once" if attempt == 1 else "recorded as failed"
            self.on_lost(f"{what}: worker lost ({_short(str(exc))}); {retry}")

    # ----- evaluations -------------------------------------------------------------------------------
    def submit(self, affinity: str, prompt: str, examples: Sequence[Example]) -> list[Future[ExampleResult]]:
        outs: list[Future[ExampleResult]] = [Future() for _ in examples]
        self._submit(affinity, prompt, list(examples), outs, 1, raise_now=True)
        return outs

    def _submit(
        self,
        affinity: str,
        prompt: str,
        examples: list[Example],
        outs: list[Future[ExampleResult]],
        attempt: int,
        raise_now: bool = False,
    ) -> None:
        try:
            futures = self.inner.submit(affinity, prompt, examples)
        except BaseException as exc:
            if raise_now:  # the first send fails as the inner backend's would
                raise
            for out in outs:
                out.set_exception(exc)
            return
        for example, out, future in zip(examples, outs, futures, strict=True):
            resend = partial(self._submit, affinity, prompt, [example], [out], 2)
            settle = partial(
                self._settle, out, f"{affinity}/{example.id}", resend, partial(_lost_example, example)
            )
            future.add_done_callback(partial(settle, attempt))

    # ----- proposals ---------------------------------------------------------------------------------
    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Future[Proposal]:
        out: Future[Proposal] = Future()
        self._propose(operator, parent, evidence, n, out, 1)
        return out

    def _propose(
        self, operator: str, parent: Playbook, evidence: Evidence, n: int, out: Future[Proposal], attempt: int
    ) -> None:
        try:
            future = self.inner.propose(operator, parent, evidence, n)
        except BaseException as exc:
            out.set_exception(exc)
            return
        resend = partial(self._propose, operator, parent, evidence, n, out, 2)
        settle = partial(self._settle, out, f"proposal ({operator}) for {parent.id}", resend)
        future.add_done_callback(partial(settle, partial(_lost_proposal, operator), attempt))

    # ----- one settling rule for both ----------------------------------------------------------------
    def _settle(
        self,
        out: Future[T],
        what: str,
        resend: Callable[[], None],
        failed: Callable[[BaseException], T],
        attempt: int,
        future: Future[T],
    ) -> None:
        """Pass `future`'s outcome to `out`; a first WorkerLost resends, a second becomes `failed(exc)`."""
        try:
            exc = future.exception()
            if exc is None:
                out.set_result(future.result())
            elif not isinstance(exc, WorkerLost):
                out.set_exception(exc)
            else:
                self._lost(what, exc, attempt)
                if attempt == 1:
                    _later(self.delay, resend)
                else:
                    out.set_result(failed(exc))
        except BaseException as exc:
            if not out.done():
                out.set_exception(exc)

    def close(self) -> None:
        self.inner.close()
