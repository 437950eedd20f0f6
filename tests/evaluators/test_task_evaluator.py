from evaluators.cache import EvalCache
from evaluators.task import EvalRequest, TaskEvaluator
from search.backends import SerialBackend, ThreadBackend
from spl_opt.core.protocols import Err, ProgramOutput
from spl_opt.core.records import Candidate, Example, Playbook

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
    ev = TaskEvaluator(EchoProgram(), scorer, SerialBackend()).evaluate(CAND, EXAMPLES, "val")
    assert [r.example_id for r in ev.results] == ["e0", "e1", "e2", "e3"]
    assert (
        ev.objectives.accuracy == 1.0 and ev.objectives.length_tokens > 0 and ev.objectives.cost_tokens == 8
    )


def test_cache_means_nothing_is_computed_twice_even_across_instances(tmp_path):
    program = EchoProgram()
    cache = EvalCache(tmp_path / "cache.jsonl")
    TaskEvaluator(program, scorer, SerialBackend(), cache).evaluate(CAND, EXAMPLES[:2], "train")
    TaskEvaluator(program, scorer, SerialBackend(), cache).evaluate(CAND, EXAMPLES, "val")
    cache.close()
    reloaded = EvalCache(tmp_path / "cache.jsonl")
    TaskEvaluator(program, scorer, SerialBackend(), reloaded).evaluate(CAND, EXAMPLES, "val")
    assert sorted(program.calls) == ["e0", "e1", "e2", "e3"]
    assert len(reloaded) == 4


def test_a_failing_call_is_a_recorded_failed_example():
    ev = TaskEvaluator(EchoProgram(fail_on="e1"), scorer, SerialBackend()).evaluate(CAND, EXAMPLES, "val")
    failed = ev.results[1]
    assert failed.score == 0.0 and "LM exploded" in (failed.error or "") and "failed" in failed.feedback
    assert ev.objectives.accuracy == 0.75


def test_a_failing_scorer_is_recorded_too():
    def bad_scorer(example, output):
        raise KeyError("no field")

    ev = TaskEvaluator(EchoProgram(), bad_scorer, SerialBackend()).evaluate(CAND, EXAMPLES[:1], "val")
    assert ev.results[0].score == 0.0 and "metric failed" in ev.results[0].feedback


class FlakyBackend(SerialBackend):
    """The first map loses every chunk, as if its worker died."""

    def __init__(self, deaths: int):
        super().__init__()
        self.deaths = deaths

    def map(self, fn, items):
        if self.deaths > 0:
            self.deaths -= 1
            return [Err("worker died", "WorkerCrashedError") for _ in items]
        return super().map(fn, items)


def test_dead_worker_is_retried_once_then_recorded():
    ev = TaskEvaluator(EchoProgram(), scorer, FlakyBackend(1)).evaluate(CAND, EXAMPLES, "val")
    assert ev.objectives.accuracy == 1.0
    ev = TaskEvaluator(EchoProgram(), scorer, FlakyBackend(2)).evaluate(CAND, EXAMPLES, "val")
    assert ev.objectives.accuracy == 0.0 and all(r.error == "worker died" for r in ev.results)


def test_many_candidates_in_parallel_keep_order():
    cands = [Candidate(playbook=Playbook(preamble=f"p{i}")) for i in range(5)]
    with ThreadBackend(4) as backend:
        evs = TaskEvaluator(EchoProgram(), scorer, backend).evaluate_many(
            [EvalRequest(c, EXAMPLES, "val") for c in cands]
        )
    assert [e.candidate_id for e in evs] == [c.id for c in cands]


def test_a_torn_cache_line_does_not_swallow_the_next_result(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = EvalCache(path)
    TaskEvaluator(EchoProgram(), scorer, SerialBackend(), cache).evaluate(CAND, EXAMPLES[:1], "val")
    cache.close()
    with path.open("a") as f:
        f.write('{"key": ["torn')
    cache = EvalCache(path)
    assert cache.skipped_lines == 1
    TaskEvaluator(EchoProgram(), scorer, SerialBackend(), cache).evaluate(CAND, EXAMPLES[:2], "val")
    cache.close()
    assert len(EvalCache(path)) == 2


def test_discarded_results_are_forgotten_after_reload(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = EvalCache(path)
    TaskEvaluator(EchoProgram(), scorer, SerialBackend(), cache).evaluate(CAND, EXAMPLES[:2], "val")
    cache.discard([(CAND.id, "e0", "echo")])
    cache.close()
    reloaded = EvalCache(path)
    assert reloaded.get((CAND.id, "e0", "echo")) is None and reloaded.get((CAND.id, "e1", "echo")) is not None
