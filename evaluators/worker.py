"""A worker: the program, scorer and LM editors that run calls, wherever the backend puts them.

A failed call is an infrastructure fault, not an answer: it is retried with exponential backoff
(`retries`, `backoff`), then recorded with outcome "error" (excluded from accuracies, never cached as
a result). A timeout is not retried, so a hung server costs at most the LM's timeout per call. An
answer the program cannot parse (DSPy's AdapterParseError) is the model's doing: outcome "no_answer".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from spl_opt.core.protocols import Evidence, Operator, Program, ProgramOutput, Scorer
from spl_opt.core.records import Example, ExampleResult, Playbook, Proposal

T = TypeVar("T")


def short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cut_off(tokens: int, steps: bool = False) -> str:
    """What an output that hit the generation limit is told: the cause of its missing answer
    (`steps`: of a multi-step program, whose tokens are the steps' sum, not the limit)."""
    if steps:
        return (
            "A step's output was cut off at the generation limit before it finished: "
            "each step has to come to its point sooner."
        )
    return (
        f"The output was cut off at the generation limit ({tokens} tokens) before it finished: "
        "the final answer has to come sooner."
    )


def is_timeout(exc: BaseException) -> bool:
    """A timeout of any client (litellm, openai, httpx, DSPy's lm15 transport, the standard library)."""
    return (
        isinstance(exc, TimeoutError)
        or "Timeout" in type(exc).__name__
        or ("Transport" in type(exc).__name__ and "timed out" in str(exc))
    )


def is_unparseable_answer(exc: BaseException) -> bool:
    """The LM answered, but not in a form the program can read (the model's failure, not the call's)."""
    return type(exc).__name__ == "AdapterParseError"


@dataclass
class Worker:
    """Runs and scores one example, or one editor proposal. Never raises for a failed call: the error
    is recorded on the result (score 0) or on the proposal."""

    program: Program
    scorer: Scorer
    editors: Mapping[str, Operator] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # values never to repeat in an error text (API keys)
    retries: int = 2  # extra attempts of a failed call (not of a timeout)
    backoff: float = 1.0  # seconds before the first retry, doubled each time

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    @property
    def batch_size(self) -> int:
        """Examples the program runs together in one call (1 if it has no batched path)."""
        return max(1, int(getattr(self.program, "batch_size", 1)))

    def _attempt(self, call: Callable[[], T]) -> T:
        """`call()`, retried with backoff when it fails (not after a timeout or an unreadable answer)."""
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.retries or is_timeout(exc) or is_unparseable_answer(exc):
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def run(self, prompt: str, example: Example) -> ExampleResult:
        start = time.perf_counter()
        try:
            output = self._attempt(lambda: self.program.run(prompt, example))
        except Exception as exc:
            return self._failed(example, exc, time.perf_counter() - start)
        return self._scored(example, output, time.perf_counter() - start)

    def run_many(self, prompt: str, examples: Sequence[Example]) -> list[ExampleResult]:
        """Results of `examples` in order, through the program's batched path when it has one (each
        result's latency is its share of the batch's time)."""
        run_batch = getattr(self.program, "run_batch", None)
        if run_batch is None or len(examples) < 2:
            return [self.run(prompt, example) for example in examples]
        start = time.perf_counter()
        try:
            outputs = self._attempt(lambda: run_batch(prompt, examples))
        except Exception as exc:
            share = (time.perf_counter() - start) / len(examples)
            return [self._failed(example, exc, share) for example in examples]
        share = (time.perf_counter() - start) / len(examples)
        return [self._scored(ex, out, share) for ex, out in zip(examples, outputs, strict=True)]

    def _failed(self, example: Example, exc: Exception, latency: float) -> ExampleResult:
        message = self._redact(str(exc))
        if is_unparseable_answer(exc):
            return ExampleResult(
                example_id=example.id,
                score=0.0,
                feedback=f"No answer could be read from the output ({type(exc).__name__}): {short(message)}",
                latency=latency,
                outcome="no_answer",
                steps=tuple(getattr(exc, "steps", ())),
            )
        return ExampleResult(
            example_id=example.id,
            score=0.0,
            error=f"{type(exc).__name__}: {message}",
            feedback=f"The call failed ({type(exc).__name__}): {short(message)}",
            latency=latency,
            outcome="error",
        )

    def _scored(self, example: Example, output: ProgramOutput, latency: float) -> ExampleResult:
        outcome: str | None = None
        try:
            scored = self.scorer(example, output)
            score, feedback = min(1.0, max(0.0, float(scored[0]))), scored[1]
            if len(scored) > 2:
                outcome = scored[2]
        except Exception as exc:
            score, feedback = 0.0, f"The metric failed ({type(exc).__name__}): {short(str(exc))}"
        outcome = outcome or ("correct" if score >= 1.0 else "wrong")  # a scorer may give no outcome
        if not output.text.strip() and outcome != "correct":
            outcome = "no_answer"
        if output.truncated and outcome != "correct":  # what was read is not an answer it finished
            outcome = "no_answer"
            feedback = " ".join(filter(None, (feedback, cut_off(output.output_tokens, bool(output.steps)))))
        return ExampleResult.model_validate(
            {
                "example_id": example.id,
                "score": score,
                "output": short(output.text, 2000),
                "feedback": feedback,
                "input_tokens": output.input_tokens,
                "output_tokens": output.output_tokens,
                "latency": latency,
                "outcome": outcome,
                "steps": output.steps,
                "truncated": output.truncated,
            }
        )

    def propose(self, operator: str, parent: Playbook, evidence: Evidence, n: int) -> Proposal:
        editor = self.editors.get(operator)
        if editor is None:
            return Proposal(editor_id=operator, error=f"this worker has no {operator!r} operator")
        try:
            proposal = editor.propose(parent, evidence, n)
        except Exception as exc:
            return Proposal(
                editor_id=operator, error=f"{type(exc).__name__}: {short(self._redact(str(exc)))}"
            )
        if proposal.error and self.secrets:
            proposal = proposal.model_copy(update={"error": self._redact(proposal.error)})
        return proposal
