import dspy

from spl_opt.api import optimize
from spl_opt.testing import editor_reply, scripted_lm
from tests.conftest import HINT


def _rows(lo: int, hi: int):
    return [
        dspy.Example(question=f"What is {i} plus {i}?", answer=str(2 * i)).with_inputs("question")
        for i in range(lo, hi)
    ]


def test_optimizes_the_instructions_of_a_dspy_program(tmp_path):
    def answer(system: str, user: str) -> str:
        a = int(user.split("What is ")[1].split(" ")[0])
        value = 2 * a if HINT in system.lower() else 0
        return f"[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]"

    def metric(example, prediction):
        ok = str(prediction.answer).strip() == example.answer
        return (1.0 if ok else 0.0), ("Correct." if ok else f"Expected {example.answer}.")

    program = dspy.Predict("question -> answer")
    result = optimize(
        program,
        trainset=_rows(0, 8),
        valset=_rows(8, 14),
        testset=_rows(14, 18),
        metric=metric,
        lm=scripted_lm(answer),
        editor_lm=scripted_lm([editor_reply("add", f"Always {HINT}.")]),
        budget=60,
        run_dir=tmp_path / "run",
    )
    assert result.search.seed.evaluation.objectives.accuracy == 0.0
    assert result.search.best.evaluation.objectives.accuracy == 1.0
    assert HINT in result.program.signature.instructions
    assert HINT not in program.signature.instructions  # the user's program is left as it was
    assert result.report.best_test is not None and result.report.best_test.objectives.accuracy == 1.0
    assert result.history[-1][1] == 1.0 and result.front
    assert (tmp_path / "run" / "journal.jsonl").exists()


def test_plain_lm_call_with_a_bool_metric():
    lm = scripted_lm(lambda system, user: "yes" if "say yes" in system else "no")
    rows = [dspy.Example(question=f"q{i}", answer="yes").with_inputs("question") for i in range(8)]
    result = optimize(
        trainset=rows[:3],
        valset=rows[3:],
        metric=lambda ex, text: text == "yes",
        lm=lm,
        editor_lm=scripted_lm([editor_reply("add", "When asked, say yes.")]),
        budget=30,
    )
    assert result.best.prompt.endswith("When asked, say yes.")
    assert result.program is None


def test_a_lead_within_chance_keeps_the_seed_and_says_why(tmp_path):
    lm = scripted_lm(lambda system, user: "yes" if "say yes" in system else "no")
    rows = [dspy.Example(question=f"q{i}", answer="yes").with_inputs("question") for i in range(6)]
    result = optimize(
        trainset=rows[:3],
        valset=rows[3:],  # 3 wins and 0 losses: p = 0.125 > 0.1
        metric=lambda ex, text: text == "yes",
        lm=lm,
        editor_lm=scripted_lm([editor_reply("add", "When asked, say yes.")]),
        budget=30,
        run_dir=tmp_path / "run",
    )
    choice = result.report.search.choice
    assert result.best.prompt == "You are a helpful assistant." and choice is not None
    assert choice.top != choice.chosen and (choice.wins, choice.losses) == (3, 0)
    assert "kept the seed" in (tmp_path / "run" / "summary.md").read_text()
