import dspy
import pytest
from dspy.teleprompt import Teleprompter

import spl_opt
from spl_opt.core.errors import ConfigError
from spl_opt.teleprompt import two_argument_metric
from spl_opt.testing import editor_reply, scripted_lm
from tests.conftest import HINT


def _data(task):
    return [
        dspy.Example(question=e.inputs["question"], answer=e.target).with_inputs("question")
        for e in task.train
    ]


def gepa_metric(gold, pred, trace, pred_name, pred_trace):  # GEPA's signature, no defaults
    ok = str(gold.answer) in str(pred.answer)
    return dspy.Prediction(score=float(ok), feedback="Correct." if ok else f"Expected {gold.answer}.")


def test_spl_is_a_dspy_teleprompter_and_a_gepa_metric_works_unchanged(tmp_path):
    def answer(system: str, user: str) -> str:  # right only with the hint, in DSPy's chat format
        a = int(user.split("What is ")[1].split(" ")[0])
        return f"[[ ## answer ## ]]\n{2 * a if HINT in system.lower() else 0}\n\n[[ ## completed ## ]]"

    rows = [
        dspy.Example(question=f"What is {i} plus {i}?", answer=str(2 * i)).with_inputs("question")
        for i in range(14)
    ]
    assert isinstance(spl_opt.SPL(gepa_metric), Teleprompter)
    student = dspy.Predict("question -> answer")
    optimizer = spl_opt.SPL(
        gepa_metric,
        budget=60,
        lm=scripted_lm(answer),
        editor_lm=scripted_lm([editor_reply("add", f"Always {HINT}.")]),
        run_dir=tmp_path / "run",
        minibatch_size=3,
    )
    optimized = optimizer.compile(student, trainset=rows[:8], valset=rows[8:])
    result = optimized.spl_result
    assert HINT in result.prompt and HINT in optimized.signature.instructions
    assert result.run_dir == tmp_path / "run" and result.front and result.history[-1][1] == 1.0
    assert HINT not in student.signature.instructions  # the student is left as it was


def test_metric_signatures_and_bad_options():
    calls = []

    def dspy_metric(gold, pred, trace=None):
        calls.append(trace)
        return 1.0

    assert two_argument_metric(dspy_metric) is dspy_metric
    assert two_argument_metric(gepa_metric) is not gepa_metric
    two_argument_metric(dspy_metric)("g", "p")
    assert calls == [None]
    with pytest.raises(ConfigError, match=r"search\.minibatch_size"):
        spl_opt.SPL(gepa_metric, minibatch_size=0)
    with pytest.raises(ConfigError, match="no_such_option"):
        spl_opt.SPL(gepa_metric, no_such_option=1)
