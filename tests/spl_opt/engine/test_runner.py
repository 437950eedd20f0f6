"""engine.runner's task wiring: the scorer and the operators see every option a question offers."""

from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Example, TaskData
from spl_opt.engine.runner import default_operators, task_scorer


def _question(i: int) -> Example:
    text = f"Puzzle {i}.\nOptions:\n(A) first\n(B) second\n(C) third\n(D) fourth\n(E) fifth"
    return Example(id=f"q{i}", inputs={"question": text}, target="(A)" if i % 2 else "(B)")


def test_options_no_training_target_names_are_labels_of_the_scorer_and_the_answer_format_rule():
    train = tuple(_question(i) for i in range(6))
    task = TaskData(name="mc", train=train, val=train[:2], test=(), seed_prompt="p")
    output = ProgramOutput(value=None, text="Not (A). It is (E).")
    score = task_scorer(task)(Example(id="t", inputs={"q": "?"}, target="(E)"), output)
    assert score[0] == 1.0
    rule = default_operators(None, train)["answer-format"].rule  # type: ignore[attr-defined]
    assert "(A), (B), (C), (D), (E)" in rule
