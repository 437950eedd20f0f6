from spl_opt.core.records import Evaluation, Example, ExampleResult, Objectives, Step
from spl_opt.engine.blame import blame

NAMES = ["extract", "answer"]


def _example(i: int, target: str) -> Example:
    return Example(id=f"e{i}", inputs={"question": f"q{i}"}, target=target)


def _result(i: int, score: float, steps: list[tuple[str, str]], outcome: str | None = None) -> ExampleResult:
    return ExampleResult(
        example_id=f"e{i}",
        score=score,
        outcome=outcome or ("correct" if score else "wrong"),
        steps=tuple(Step(name=n, input=f"q{i}", output=o) for n, o in steps),
    )


def _eval(results: list[ExampleResult]) -> Evaluation:
    return Evaluation(
        candidate_id="c",
        split="train",
        results=tuple(results),
        objectives=Objectives(accuracy=0, length_tokens=0),
    )


def test_a_step_that_loses_the_answer_is_blamed():
    batch = [_example(0, "12"), _example(1, "7")]
    results = [
        _result(0, 0.0, [("extract", "total is 12 apples"), ("answer", "Answer: 11")]),
        _result(1, 0.0, [("extract", "7 left"), ("answer", "Answer: 8")]),
    ]
    found = blame(_eval(results), batch, NAMES, iteration=0)
    assert found.step == "answer" and "2 of 2 failures" in found.reason and "lost it" in found.reason


def test_a_step_with_no_readable_output_is_blamed():
    batch = [_example(0, "12")]
    results = [_result(0, 0.0, [("extract", "some facts")], outcome="no_answer")]
    assert blame(_eval(results), batch, NAMES, iteration=0).step == "answer"
    stopped_first = [_result(0, 0.0, [], outcome="no_answer")]
    assert blame(_eval(stopped_first), batch, NAMES, iteration=1).step == "extract"


def test_the_step_whose_outputs_differ_between_passing_and_failing_examples_is_blamed():
    batch = [_example(0, "12"), _example(1, "7"), _example(2, "3")]
    results = [
        _result(0, 1.0, [("extract", "there are 12"), ("answer", "Answer: 12")]),
        _result(1, 0.0, [("extract", "nothing useful"), ("answer", "Answer: 5")]),
        _result(2, 0.0, [("extract", "unclear"), ("answer", "Answer: 4")]),
    ]
    found = blame(_eval(results), batch, NAMES, iteration=1)
    assert found.step == "extract" and "passing than failing" in found.reason


def test_without_a_signal_the_steps_take_turns():
    batch = [_example(0, "12")]
    results = [_result(0, 0.0, [("extract", "x"), ("answer", "Answer: 5")])]
    assert [blame(_eval(results), batch, NAMES, iteration=i).step for i in range(3)] == [
        "extract",
        "answer",
        "extract",
    ]
    assert "round-robin" in blame(_eval(results), batch, NAMES, iteration=0).reason
