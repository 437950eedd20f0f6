import threading
import time

import pytest

from spl_opt.backends.local import SerialBackend, ThreadBackend
from spl_opt.core.protocols import Evidence, ProgramOutput
from spl_opt.core.records import Example, Playbook, Proposal
from spl_opt.evaluators.worker import Worker

EXAMPLES = [Example(id=f"e{i}", inputs={"q": str(i)}, target=str(i)) for i in range(6)]


class Echo:
    cache_namespace = "echo"

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.delay, self.fail_on = delay, fail_on
        self.threads: list[tuple[str, str]] = []

    def run(self, system_prompt, example):
        self.threads.append((example.id, threading.current_thread().name))
        time.sleep(self.delay)
        if example.id == self.fail_on:
            raise ValueError("boom")
        return ProgramOutput(value=example.target, text=f"{system_prompt}:{example.target}")


def scorer(example, output):
    return float(output.text.endswith(example.target)), "ok"


class FixedEditor:
    editor_id = "fixed"

    def propose(self, parent, evidence, n=1):
        return Proposal(editor_id="fixed", raw=f"{parent.preamble}/{evidence.seed}/{n}")


@pytest.fixture(params=["serial", "thread"])
def backend(request):
    worker = Worker(Echo(fail_on="e3"), scorer, {"editor": FixedEditor()})
    b = SerialBackend(worker) if request.param == "serial" else ThreadBackend(worker, 4)
    yield b
    b.close()


def test_one_future_per_example_in_order_with_failures_recorded(backend):
    results = [f.result(5) for f in backend.submit("c1", "P", EXAMPLES)]
    assert [r.example_id for r in results] == [e.id for e in EXAMPLES]
    assert [r.score for r in results] == [1, 1, 1, 0, 1, 1]
    assert "boom" in (results[3].error or "") and backend.submit("c1", "P", []) == []


def test_proposals_run_on_the_worker_and_unknown_operators_are_recorded(backend):
    parent, evidence = Playbook(preamble="pre"), Evidence(seed=7)
    assert backend.propose("editor", parent, evidence, 2).result(5).raw == "pre/7/2"
    missing = backend.propose("nope", parent, evidence, 1).result(5)
    assert missing.edits == () and "no 'nope' operator" in (missing.error or "")


def test_a_candidate_s_examples_run_back_to_back_on_one_thread():
    program = Echo(delay=0.01)
    with ThreadBackend(Worker(program, scorer), 3) as b:
        futures = [f for c in ("a", "b", "c") for f in b.submit(c, c, EXAMPLES)]
        [f.result(5) for f in futures]
    by_thread: dict[str, list[str]] = {}
    for ex_id, thread in program.threads:
        by_thread.setdefault(thread, []).append(ex_id)
    assert len(by_thread) == 3 and all(ids == [e.id for e in EXAMPLES] for ids in by_thread.values())


def test_chunk_size_one_runs_examples_concurrently():
    with ThreadBackend(Worker(Echo(delay=0.2), scorer), 6, chunk_size=1) as b:
        start = time.perf_counter()
        [f.result(5) for f in b.submit("a", "P", EXAMPLES)]
        assert time.perf_counter() - start < 0.6  # 6 × 0.2 s one after another would take 1.2 s


def test_an_interrupt_fails_the_rest_of_the_chunk():
    class Interrupt(Echo):
        def run(self, system_prompt, example):
            if example.id == "e2":
                raise KeyboardInterrupt
            return super().run(system_prompt, example)

    futures = SerialBackend(Worker(Interrupt(), scorer)).submit("a", "P", EXAMPLES)
    assert [f.exception() is None for f in futures] == [True, True, False, False, False, False]
    assert isinstance(futures[4].exception(), KeyboardInterrupt)


def test_closed_thread_backend_refuses_work_and_bad_sizes_are_refused():
    b = ThreadBackend(Worker(Echo(), scorer), 2)
    b.close()
    b.close()
    with pytest.raises(RuntimeError):
        b.submit("a", "P", EXAMPLES)
    with pytest.raises(ValueError):
        ThreadBackend(Worker(Echo(), scorer), 0)
    with pytest.raises(ValueError):
        ThreadBackend(Worker(Echo(), scorer), 2, chunk_size=0)


def test_after_an_interrupt_the_serial_backend_refuses_further_work_at_once():
    class Interrupt(Echo):
        def run(self, system_prompt, example):
            if example.id == "e1":
                raise KeyboardInterrupt
            return super().run(system_prompt, example)

    program = Interrupt()
    backend = SerialBackend(Worker(program, scorer))
    backend.submit("a", "P", EXAMPLES)
    with pytest.raises(KeyboardInterrupt):
        backend.submit("b", "P", EXAMPLES)
    assert [ex for ex, _ in program.threads] == ["e0"]  # nothing of "b" ran


def test_closing_stops_running_chunks_between_calls_and_cancels_queued_ones():
    from concurrent.futures import CancelledError

    program = Echo(delay=0.1)
    backend = ThreadBackend(Worker(program, scorer), 1)
    running = backend.submit("a", "P", EXAMPLES)
    queued = backend.submit("b", "P", EXAMPLES)
    time.sleep(0.05)
    start = time.perf_counter()
    backend.close()
    assert time.perf_counter() - start < 0.3  # not the 1.1 s the rest of both chunks would take
    assert running[0].result().score == 1.0
    assert all(isinstance(f.exception(), CancelledError) for f in running[1:] + queued)


@pytest.mark.parametrize("backend_kind", ["serial", "thread"])
def test_a_batching_program_runs_its_examples_in_batches(backend_kind):
    from spl_opt.programs import ChatProgram
    from spl_opt.testing import scripted_lm

    lm = scripted_lm(lambda system, user: f"Answer: {user}", batching=True)
    program = ChatProgram(lm, batch_size=4)
    worker = Worker(program, lambda ex, out: (float(out.text == f"Answer: {ex.target}"), "ok"))
    examples = [Example(id=f"e{i}", inputs={"q": str(i)}, target=str(i)) for i in range(10)]
    backend = SerialBackend(worker) if backend_kind == "serial" else ThreadBackend(worker, 2)
    with backend:
        results = [f.result() for f in backend.submit("c1", "Be exact.", examples)]
    assert [r.example_id for r in results] == [e.id for e in examples]
    assert all(r.score == 1.0 for r in results)
    assert lm.engine.batches == [4, 4, 2]


def test_a_failed_batch_fails_each_of_its_examples_not_the_run():
    from spl_opt.programs import ChatProgram
    from spl_opt.testing import scripted_lm

    lm = scripted_lm(lambda s, u: "Answer: 1", batching=True, fail_on=lambda s, u: u == "5")
    worker = Worker(ChatProgram(lm, batch_size=4), lambda ex, out: (1.0, "ok"))
    examples = [Example(id=f"e{i}", inputs={"q": str(i)}, target="1") for i in range(8)]
    results = worker.run_many("p", examples[:4]) + worker.run_many("p", examples[4:])
    assert [r.error is None for r in results] == [True] * 4 + [False] * 4
    assert "scripted failure" in results[5].error


def test_sampling_programs_do_not_batch():
    from spl_opt.programs import ChatProgram
    from spl_opt.testing import scripted_lm

    assert ChatProgram(scripted_lm(["x"], batching=True, temperature=0.7)).batch_size == 1
    assert ChatProgram(scripted_lm(["x"])).batch_size == 1
    assert ChatProgram(scripted_lm(["x"], batching=True)).batch_size == 16


def test_one_batched_actor_call_fans_out_to_one_future_per_example():
    from concurrent.futures import Future

    from spl_opt.backends.ray import _fan_out

    whole: Future = Future()
    parts = _fan_out(whole, 3)
    whole.set_result(["a", "b", "c"])
    assert [p.result() for p in parts] == ["a", "b", "c"]
    lost: Future = Future()
    parts = _fan_out(lost, 2)
    lost.set_exception(RuntimeError("node died"))
    assert all(isinstance(p.exception(), RuntimeError) for p in parts)
