"""The task evaluator: runs a program with a candidate's prompt over examples and scores each output."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from evaluators.cache import EvalCache
from evaluators.length import LengthCounter
from spl_opt.core.protocols import Backend, Err, Program, Scorer
from spl_opt.core.records import Candidate, Evaluation, Example, ExampleResult, Objectives, Split


@dataclass(frozen=True)
class EvalRequest:
    """Evaluate `candidate` on `examples` of `split`."""

    candidate: Candidate
    examples: tuple[Example, ...]
    split: Split


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TaskEvaluator:
    """Scores candidates; one candidate's uncached examples run back to back on one worker.

    Keeping a candidate's examples together lets a local model reuse the KV cache of the shared
    system prompt. A failing call or scorer becomes a failed example (score 0) with the error as
    feedback; it never fails the evaluation.
    """

    def __init__(
        self,
        program: Program,
        scorer: Scorer,
        backend: Backend,
        cache: EvalCache | None = None,
        length: LengthCounter | None = None,
    ) -> None:
        self.program = program
        self.scorer = scorer
        self.backend = backend
        self.cache = cache if cache is not None else EvalCache()
        self.length = length or LengthCounter()
        self._lock = threading.Lock()
        self.fresh_seconds = 0.0  # time inside the program (LM calls) for results computed here

    def _key(self, candidate: Candidate, example: Example) -> tuple[str, str, str]:
        return (candidate.id, example.id, self.program.cache_namespace)

    def run_one(self, prompt: str, example: Example) -> ExampleResult:
        """Run and score one example; every exception is recorded on the result."""
        start = time.perf_counter()
        try:
            output = self.program.run(prompt, example)
        except Exception as exc:
            return ExampleResult(
                example_id=example.id,
                score=0.0,
                error=f"{type(exc).__name__}: {exc}",
                feedback=f"The call failed ({type(exc).__name__}): {_short(str(exc))}",
                latency=time.perf_counter() - start,
            )
        latency = time.perf_counter() - start
        try:
            score, feedback = self.scorer(example, output)
            score = min(1.0, max(0.0, float(score)))
        except Exception as exc:
            score, feedback = 0.0, f"The metric failed ({type(exc).__name__}): {_short(str(exc))}"
        return ExampleResult(
            example_id=example.id,
            score=score,
            output=_short(output.text, 2000),
            feedback=feedback,
            input_tokens=output.input_tokens,
            output_tokens=output.output_tokens,
            latency=latency,
        )

    def _run_chunk(self, work: tuple[Candidate, tuple[Example, ...]]) -> list[ExampleResult]:
        candidate, examples = work
        prompt = candidate.prompt
        results = []
        for example in examples:
            result = self.run_one(prompt, example)
            self.cache.put(self._key(candidate, example), result)
            with self._lock:
                self.fresh_seconds += result.latency
            results.append(result)
        return results

    def evaluate_many(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        """Evaluations in the order of `requests`, computing only what the cache lacks."""
        todo: dict[str, tuple[Candidate, list[Example]]] = {}
        for req in requests:
            for ex in req.examples:
                if self.cache.get(self._key(req.candidate, ex)) is None:
                    entry = todo.setdefault(req.candidate.id, (req.candidate, []))
                    if ex not in entry[1]:
                        entry[1].append(ex)
        work = [(cand, tuple(exs)) for cand, exs in todo.values()]
        for attempt in (1, 2):  # a chunk whose worker died is retried once, then recorded as failed
            outcomes = self.backend.map(self._run_chunk, work)
            failed = [(w, o) for w, o in zip(work, outcomes, strict=True) if isinstance(o, Err)]
            work = [
                (cand, tuple(ex for ex in exs if self.cache.get(self._key(cand, ex)) is None))
                for (cand, exs), _ in failed
            ]
            if attempt == 2:
                for (cand, exs), outcome in zip(work, (o for _, o in failed), strict=True):
                    for ex in exs:
                        self.cache.put(
                            self._key(cand, ex),
                            ExampleResult(
                                example_id=ex.id,
                                score=0.0,
                                error=outcome.error,
                                feedback=f"The evaluation worker failed: {_short(outcome.error)}",
                            ),
                        )
            if not work:
                break
        return [self._assemble(req) for req in requests]

    def evaluate(self, candidate: Candidate, examples: Sequence[Example], split: str = "val") -> Evaluation:
        return self.evaluate_many([EvalRequest(candidate, tuple(examples), split)])[0]  # type: ignore[arg-type]

    def _assemble(self, req: EvalRequest) -> Evaluation:
        results = []
        for ex in req.examples:
            cached = self.cache.get(self._key(req.candidate, ex))
            assert cached is not None
            results.append(cached)
        accuracy = sum(r.score for r in results) / len(results) if results else 0.0
        objectives = Objectives(
            accuracy=accuracy,
            length_tokens=self.length(req.candidate.prompt),
            cost_tokens=sum(r.input_tokens + r.output_tokens for r in results),
        )
        return Evaluation(
            candidate_id=req.candidate.id, split=req.split, results=tuple(results), objectives=objectives
        )
