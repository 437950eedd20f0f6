"""The task evaluator: runs a candidate's prompt over examples on a backend and scores each output.

Results stream in per example: each is cached as soon as it finishes, so a killed run or a lost worker
loses at most the calls in flight. A call whose worker died is the backend's to retry
(`spl_opt.backends.retry.RetryingBackend`); any exception that reaches a result here fails every
request waiting on that example, and nothing of it is cached.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

from spl_opt.core.protocols import Backend
from spl_opt.core.records import Candidate, Evaluation, Example, ExampleResult, Objectives, Split
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.length import LengthCounter

Key = tuple[str, str, str]


@dataclass(frozen=True)
class EvalRequest:
    """Evaluate `candidate` on `examples` of `split`."""

    candidate: Candidate
    examples: tuple[Example, ...]
    split: Split


class TaskEvaluator:
    """Scores candidates on a backend; computes only what the cache lacks, and nothing twice at once.

    A failing call or scorer becomes a failed example (score 0) with the error as feedback; it never
    fails the evaluation. `on_lost(message)` is called for every call lost with its worker.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        namespace: str,
        cache: EvalCache | None = None,
        length: LengthCounter | None = None,
    ) -> None:
        self.backend = backend
        self.namespace = namespace
        self.cache = cache if cache is not None else EvalCache()
        self.length = length or LengthCounter()
        self._lock = threading.Lock()
        self._inflight: dict[Key, Future[ExampleResult]] = {}
        self.fresh_seconds = 0.0  # time inside the program (LM calls) for results computed here
        self.failed_calls = 0  # calls that failed for good (errors, or lost twice): results, not cached

    def _key(self, candidate: Candidate, example: Example) -> Key:
        return (candidate.id, example.id, self.namespace)

    # ----- asynchronous ------------------------------------------------------------------------------
    def submit(self, request: EvalRequest, *, replay: bool = False) -> Future[Evaluation]:
        """A future of the request's Evaluation; its uncached examples start now, back to back.
        `replay`: the journal already told this result, so recorded failed calls are served as they
        were (a resume re-makes its decisions); otherwise failed calls are made again."""
        done: Future[Evaluation] = Future()
        slots: list[Future[ExampleResult]] = []
        todo: list[tuple[Example, Future[ExampleResult]]] = []
        with self._lock:
            for example in request.examples:
                key = self._key(request.candidate, example)
                cached = self.cache.get(key, replay=replay)
                if cached is not None:
                    slot: Future[ExampleResult] = Future()
                    slot.set_result(cached)
                elif key in self._inflight:
                    slot = self._inflight[key]
                else:
                    slot = self._inflight[key] = Future()
                    todo.append((example, slot))
                slots.append(slot)
        remaining = [len(slots)]
        finish = partial(self._finish_request, request, slots, done, remaining)
        for slot in slots:
            slot.add_done_callback(finish)
        if not slots:
            done.set_result(self._assemble(request))
        if todo:
            self._launch(request.candidate, [ex for ex, _ in todo], [s for _, s in todo])
        return done

    def _launch(
        self, candidate: Candidate, examples: list[Example], slots: list[Future[ExampleResult]]
    ) -> None:
        try:
            futures = self.backend.submit(candidate.id, candidate.prompt, examples)
        except Exception as exc:  # the backend cannot take work (closed, no live worker): fail, cache nothing
            for example, slot in zip(examples, slots, strict=True):
                self._fail(candidate, example, slot, exc)
            return
        for example, slot, future in zip(examples, slots, futures, strict=True):
            future.add_done_callback(partial(self._on_result, candidate, example, slot))

    def _fail(
        self, candidate: Candidate, example: Example, slot: Future[ExampleResult], exc: BaseException
    ) -> None:
        """Pass an error to every waiter of this example; nothing is cached, so a resume redoes it."""
        with self._lock:
            self._inflight.pop(self._key(candidate, example), None)
        if not slot.done():
            slot.set_exception(exc)

    def _on_result(
        self,
        candidate: Candidate,
        example: Example,
        slot: Future[ExampleResult],
        future: Future[ExampleResult],
    ) -> None:
        try:
            self._settle(candidate, example, slot, future)
        except BaseException as exc:  # a failing cache write or journal: the run must see it, not hang
            self._fail(candidate, example, slot, exc)

    def _settle(
        self,
        candidate: Candidate,
        example: Example,
        slot: Future[ExampleResult],
        future: Future[ExampleResult],
    ) -> None:
        exc = future.exception()
        if exc is None:
            result = future.result()
            with self._lock:
                self.fresh_seconds += result.latency
        else:  # an interrupt, a closed backend or a bug: every waiter sees it, nothing is cached
            self._fail(candidate, example, slot, exc)
            return
        self.cache.put(self._key(candidate, example), result)  # a failed call is kept apart there
        if not result.scored:
            with self._lock:
                self.failed_calls += 1
        with self._lock:
            self._inflight.pop(self._key(candidate, example), None)
        slot.set_result(result)

    def _finish_request(
        self,
        request: EvalRequest,
        slots: list[Future[ExampleResult]],
        done: Future[Evaluation],
        remaining: list[int],
        _: Future[ExampleResult],
    ) -> None:
        with self._lock:
            remaining[0] -= 1
            if remaining[0]:
                return
        try:
            failed = next((s.exception() for s in slots if s.exception() is not None), None)
            if failed is not None:
                done.set_exception(failed)
            else:
                done.set_result(self._evaluation(request, [s.result() for s in slots]))
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)

    # ----- synchronous -------------------------------------------------------------------------------
    def evaluate_many(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        """Evaluations in the order of `requests`, computing only what the cache lacks."""
        futures = [self.submit(req) for req in requests]
        return [f.result() for f in futures]

    def evaluate(self, candidate: Candidate, examples: Sequence[Example], split: str = "val") -> Evaluation:
        return self.evaluate_many([EvalRequest(candidate, tuple(examples), split)])[0]  # type: ignore[arg-type]

    def _assemble(self, request: EvalRequest) -> Evaluation:
        results = [self.cache.get(self._key(request.candidate, ex)) for ex in request.examples]
        assert all(r is not None for r in results)
        return self._evaluation(request, results)  # type: ignore[arg-type]

    def _evaluation(self, request: EvalRequest, results: list[ExampleResult]) -> Evaluation:
        scored = [r.score for r in results if r.scored]  # failed calls are no evidence either way
        accuracy = sum(scored) / len(scored) if scored else 0.0
        objectives = Objectives(
            accuracy=accuracy,
            length_tokens=sum(self.length(text) for text in request.candidate.playbook.texts()),
            cost_tokens=sum(r.input_tokens + r.output_tokens for r in results),
        )
        return Evaluation(
            candidate_id=request.candidate.id,
            split=request.split,
            results=tuple(results),
            objectives=objectives,
        )
