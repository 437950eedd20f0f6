import threading

import pytest

from spl_opt.backends.local import SerialBackend, ThreadBackend, local_evaluator
from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Candidate, Example, Playbook
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.task import EvalRequest, TaskEvaluator
from spl_opt.evaluators.worker import Worker

EXAMPLES = tuple(Example(id=f"e{i}", inputs={"q": str(i)}, target=str(i)) for i in range(4))
CAND = Candidate(playbook=Playbook(preamble="Echo."))


class EchoProgram:
    cache_namespace = "echo"

    def __init__(self, fail_on: str | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on

    def run(self, system_prompt, example):
        self.calls.append(example.id)
        if example.id == self.fail_on:
            raise ValueError("LM exploded")
        return ProgramOutput(
            value=example.inputs["q"], text=f"Answer: {example.inputs['q']}", output_tokens=2
        )


def scorer(example, output):
    return (1.0 if output.text.endswith(example.target) else 0.0), "fb"


def test_scores_and_objectives(tmp_path):
    ev = local_evaluator(EchoProgram(), scorer).evaluate(CAND, EXAMPLES, "val")
    assert [r.example_id for r in ev.results] == ["e0", "e1", "e2", "e3"]
    assert (
        ev.objectives.accuracy == 1.0 and ev.objectives.length_tokens > 0 and ev.objectives.cost_tokens == 8
    )


def test_cache_means_nothing_is_computed_twice_even_across_instances(tmp_path):
    program = EchoProgram()
    cache = EvalCache(tmp_path / "cache.jsonl")
    local_evaluator(program, scorer, cache).evaluate(CAND, EXAMPLES[:2], "train")
    local_evaluator(program, scorer, cache).evaluate(CAND, EXAMPLES, "val")
    cache.close()
    reloaded = EvalCache(tmp_path / "cache.jsonl")
    local_evaluator(program, scorer, reloaded).evaluate(CAND, EXAMPLES, "val")
    assert sorted(program.calls) == ["e0", "e1", "e2", "e3"]
    assert len(reloaded) == 4


def test_a_failing_call_is_a_recorded_failed_example():
    ev = local_evaluator(EchoProgram(fail_on="e1"), scorer).evaluate(CAND, EXAMPLES, "val")
    failed = ev.results[1]
    assert failed.score == 0.0 and "LM exploded" in (failed.error or "") and "failed" in failed.feedback
    assert failed.outcome == "error" and not failed.scored
    assert ev.objectives.accuracy == 1.0  # a failed call is no evidence: 3 of the 3 answers are right


def test_a_failing_scorer_is_recorded_too():
    def bad_scorer(example, output):
        raise KeyError("no field")

    ev = local_evaluator(EchoProgram(), bad_scorer).evaluate(CAND, EXAMPLES[:1], "val")
    assert ev.results[0].score == 0.0 and "metric failed" in ev.results[0].feedback


def _evaluator(backend, **kw):
    return TaskEvaluator(backend, namespace="echo", **kw)


def test_failures_are_cached_but_interrupts_are_not(tmp_path):
    class Interrupting(EchoProgram):
        def run(self, system_prompt, example):
            if example.id == "e2":
                raise KeyboardInterrupt
            return super().run(system_prompt, example)

    cache = EvalCache()
    with pytest.raises(KeyboardInterrupt):
        local_evaluator(Interrupting(), scorer, cache).evaluate(CAND, EXAMPLES, "val")
    assert len(cache) == 2  # e0 and e1 finished before the interrupt and are kept


def test_the_same_call_in_flight_for_two_requests_runs_once():
    program = EchoProgram()
    gate = threading.Event()

    class Gated(EchoProgram):
        def run(self, system_prompt, example):
            gate.wait(5)
            return program.run(system_prompt, example)

    with ThreadBackend(Worker(Gated(), scorer), 4) as backend:
        evaluator = TaskEvaluator(backend, namespace="echo")
        first = evaluator.submit(EvalRequest(CAND, EXAMPLES[:3], "train"))
        second = evaluator.submit(EvalRequest(CAND, EXAMPLES, "val"))
        gate.set()
        assert first.result().objectives.accuracy == second.result().objectives.accuracy == 1.0
    assert sorted(program.calls) == ["e0", "e1", "e2", "e3"]


def test_many_candidates_in_parallel_keep_order():
    cands = [Candidate(playbook=Playbook(preamble=f"p{i}")) for i in range(5)]
    with ThreadBackend(Worker(EchoProgram(), scorer), 4) as backend:
        evs = _evaluator(backend).evaluate_many([EvalRequest(c, EXAMPLES, "val") for c in cands])
    assert [e.candidate_id for e in evs] == [c.id for c in cands]


def test_a_torn_cache_line_does_not_swallow_the_next_result(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = EvalCache(path)
    local_evaluator(EchoProgram(), scorer, cache).evaluate(CAND, EXAMPLES[:1], "val")
    cache.close()
    with path.open("a") as f:
        f.write('{"key": ["torn')
    cache = EvalCache(path)
    assert cache.skipped_lines == 1
    local_evaluator(EchoProgram(), scorer, cache).evaluate(CAND, EXAMPLES[:2], "val")
    cache.close()
    assert len(EvalCache(path)) == 2


def test_a_failed_call_is_no_result_and_is_called_again(tmp_path):
    calls = {"n": 0}

    class Flaky:
        cache_namespace = "echo"

        def run(self, system_prompt, example):
            calls["n"] += 1
            if example.id == "e0" and calls["n"] <= 3:  # down for the first call and both retries
                raise ConnectionError("server unavailable")
            return ProgramOutput(value=example.target, text=f"Answer: {example.target}")

    path = tmp_path / "cache.jsonl"
    cache = EvalCache(path)
    evaluator = local_evaluator(Flaky(), scorer, cache)
    evaluator.backend.worker.backoff = 0.0
    first = evaluator.evaluate(CAND, EXAMPLES[:3], "val")
    assert [r.outcome for r in first.results] == ["error", "correct", "correct"]
    assert first.errors == 1 and first.objectives.accuracy == 1.0  # the failed call counts in no accuracy
    assert evaluator.failed_calls == 1
    cache.close()
    reloaded = EvalCache(path)  # a resume: the failure is kept apart, served only to a replay
    key = (CAND.id, "e0", "echo")
    assert reloaded.get(key) is None and reloaded.get(key, replay=True).outcome == "error"
    again = local_evaluator(Flaky(), scorer, reloaded).evaluate(CAND, EXAMPLES[:3], "val")
    assert [r.outcome for r in again.results] == ["correct"] * 3 and calls["n"] == 6  # only e0 again
    assert reloaded.get(key).outcome == "correct" and reloaded.get(key, replay=True).outcome == "correct"


def test_a_failing_cache_write_fails_the_evaluation_instead_of_hanging():
    class FullDisk(EvalCache):
        def put(self, key, result):
            raise OSError("No space left on device")

    evaluator = local_evaluator(EchoProgram(), scorer, FullDisk())
    with pytest.raises(OSError, match="No space"):
        evaluator.evaluate(CAND, EXAMPLES, "val")


def test_a_backend_that_refuses_work_fails_the_evaluation_and_caches_nothing():
    class Closed(SerialBackend):
        def submit(self, affinity, prompt, examples):
            raise RuntimeError("backend is closed")

    cache = EvalCache()
    with pytest.raises(RuntimeError, match="closed"):
        _evaluator(Closed(Worker(EchoProgram(), scorer)), cache=cache).evaluate(CAND, EXAMPLES, "val")
    assert len(cache) == 0


def test_a_worker_never_repeats_an_api_key_in_an_error():
    class Leaky(EchoProgram):
        def run(self, system_prompt, example):
            raise PermissionError("401: invalid key sk-live-123 for this project")

    worker = Worker(Leaky(), scorer, secrets=("sk-live-123",))
    result = worker.run("P", EXAMPLES[0])
    assert "sk-live-123" not in (result.error or "") + result.feedback and "[redacted]" in (
        result.error or ""
    )


def test_the_cache_lists_its_results_with_their_keys_and_no_failed_call(tmp_path):
    from spl_opt.core.records import ExampleResult

    cache = EvalCache(tmp_path / "c.jsonl")
    cache.put(("p", "e1", "ns"), ExampleResult(example_id="e1", score=1.0))
    cache.put(("p", "e2", "ns"), ExampleResult(example_id="e2", score=0.0, error="timeout"))
    cache.close()
    reread = EvalCache(tmp_path / "c.jsonl")
    assert [(key, r.score) for key, r in reread.results()] == [(("p", "e1", "ns"), 1.0)]
    reread.close()
