"""The worker: retries of failed calls, and the outcome of each example."""

import time

from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example, ExampleResult
from spl_opt.evaluators.worker import Worker, cut_off

EX = Example(id="e", inputs={"q": "1+1?"}, target="2")


class Scripted:
    """Raises the scripted exceptions in order, then answers."""

    cache_namespace = "scripted"

    def __init__(self, *failures, text="Answer: 2"):
        self.failures, self.text, self.calls = list(failures), text, 0

    def run(self, system_prompt, example):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return ProgramOutput(value=self.text, text=self.text)


def scorer(example, output):
    ok = output.text.strip().endswith(example.target)
    return (1.0, "ok", "correct") if ok else (0.0, "no", "wrong")


def test_a_failed_call_is_retried_with_backoff_then_answers():
    program = Scripted(ConnectionError("reset"), RuntimeError("HTTP 500"))
    start = time.perf_counter()
    result = Worker(program, scorer, backoff=0.05).run("p", EX)
    assert result.outcome == "correct" and program.calls == 3
    assert time.perf_counter() - start >= 0.05 + 0.1  # 0.05 s, then doubled


def test_a_call_that_keeps_failing_is_an_error_not_a_wrong_answer():
    program = Scripted(*[RuntimeError("HTTP 429")] * 3)
    result = Worker(program, scorer, backoff=0.0).run("p", EX)
    assert result.outcome == "error" and not result.scored and "HTTP 429" in result.error
    assert program.calls == 3


def test_a_timeout_is_not_retried():
    class Timeout(Exception):
        pass

    program = Scripted(TimeoutError("read timed out"))
    assert Worker(program, scorer, backoff=0.0).run("p", EX).outcome == "error" and program.calls == 1
    program = Scripted(Timeout("litellm.Timeout"))
    assert Worker(program, scorer, backoff=0.0).run("p", EX).outcome == "error" and program.calls == 1


def test_an_unreadable_or_empty_answer_is_no_answer():
    class AdapterParseError(Exception):
        pass

    unparsed = Worker(Scripted(AdapterParseError("no [[ ## answer ## ]]")), scorer).run("p", EX)
    assert unparsed.outcome == "no_answer" and unparsed.scored and unparsed.error is None
    empty = Worker(Scripted(text="   "), scorer).run("p", EX)
    assert empty.outcome == "no_answer" and empty.score == 0.0
    assert Worker(Scripted(text="Answer: 3"), scorer).run("p", EX).outcome == "wrong"


def test_a_two_item_scorer_gets_its_outcome_from_the_score():
    result = Worker(Scripted(), lambda ex, out: (1.0, "fine")).run("p", EX)
    assert result.outcome == "correct"


def test_records_written_before_outcomes_get_one():
    old = {"example_id": "e", "score": 0.0, "error": "TimeoutError: x"}
    assert ExampleResult.model_validate(old).outcome == "error"
    assert ExampleResult.model_validate({"example_id": "e", "score": 1.0}).outcome == "correct"
    assert ExampleResult.model_validate({"example_id": "e", "score": 0.0}).outcome == "wrong"


class CutOff:
    """Answers with an output that stopped at the generation limit."""

    cache_namespace = "cut-off"

    def __init__(self, text: str) -> None:
        self.text = text

    def run(self, system_prompt, example):
        return ProgramOutput(value=self.text, text=self.text, output_tokens=256, truncated=True)


def test_an_output_cut_off_at_the_generation_limit_says_so_in_its_feedback_unless_it_was_right():
    wrong = Worker(CutOff("First, 1 plus 1 is"), scorer).run("p", EX)
    assert wrong.truncated and wrong.outcome == "no_answer"  # what was read is no finished answer
    assert wrong.feedback == f"no {cut_off(256)}"
    assert "cut off at the generation limit (256 tokens)" in wrong.feedback
    right = Worker(CutOff("Answer: 2"), scorer).run("p", EX)
    assert right.truncated and right.outcome == "correct" and right.feedback == "ok"
    assert not Worker(Scripted(), scorer).run("p", EX).truncated
    assert ExampleResult.model_validate({"example_id": "e", "score": 0.0}).truncated is False  # old records


def test_a_multi_step_output_cut_off_is_not_told_its_steps_token_sum_as_the_limit():
    from spl_opt.core.records import Step

    class Steps(CutOff):
        def run(self, system_prompt, example):
            steps = (
                Step(name="extract", input="q", output="facts"),
                Step(name="answer", input="f", output="a"),
            )
            return ProgramOutput(value="a", text="a", output_tokens=300, truncated=True, steps=steps)

    result = Worker(Steps("a"), scorer).run("p", EX)
    assert result.outcome == "no_answer" and "A step's output was cut off" in result.feedback
    assert "300" not in result.feedback


def test_the_chat_program_reads_the_limit_from_the_engine_and_from_a_response():
    import dspy

    from spl_opt.lm.llama_engine import LlamaEngine
    from spl_opt.programs import ChatProgram

    class Engine(LlamaEngine):
        def __init__(self) -> None:
            super().__init__("m.gguf")

        def complete_batch(self, system, users, *, max_tokens, stop=()):
            reasons = ["length", "stop"]
            return [
                {"text": u, "finish_reason": reasons[i], "input_tokens": 1, "output_tokens": max_tokens}
                for i, u in enumerate(users)
            ]

    program = ChatProgram(dspy.LM("embedded/m", engine=Engine(), cache=False, max_tokens=7))
    outs = program.run_batch("p", [EX, EX.model_copy(update={"id": "f"})])
    assert [o.truncated for o in outs] == [True, False]


def test_a_right_answer_cut_off_stays_right_when_the_scorer_gives_no_outcome():
    two_values = lambda example, output: (1.0, "")  # noqa: E731  (the Scorer protocol allows this)
    result = Worker(CutOff("Answer: 2"), two_values).run("p", EX)
    assert (result.outcome, result.feedback, result.truncated) == ("correct", "", True)
    wrong = Worker(CutOff("First,"), lambda example, output: (0.0, "")).run("p", EX)
    assert wrong.outcome == "no_answer" and wrong.feedback == cut_off(256)  # no leading space


def test_the_chat_program_reads_the_limit_from_a_single_call_too():
    from spl_opt.programs import ChatProgram
    from spl_opt.testing import scripted_lm

    program = ChatProgram(scripted_lm(["one two three four five", "Answer: 2"], max_tokens=3))
    cut, whole = program.run("p", EX), program.run("p", EX)
    assert (cut.text, cut.truncated, cut.output_tokens) == ("one two three", True, 3)
    assert (whole.text, whole.truncated) == ("Answer: 2", False)
