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


def test_a_two_step_program_gets_the_strategy_in_the_step_that_needs_it(tmp_path):
    """Only the second step needs a strategy: its playbook is edited (blamed: the first step's
    facts hold the answer the second loses) and the first is left alone; the export gives back
    the whole program with each predictor's learned instructions."""
    from spl_opt.dspy_programs import EXTRACT, ExtractThenAnswer
    from spl_opt.engine.events import ProposalEvent
    from spl_opt.engine.journal import JOURNAL, read_events
    from spl_opt.report.lineage import ancestry, lineage_by_part, load_candidates
    from tests.spl_opt.test_programs import two_step_answer

    rows = [
        dspy.Example(question=f"What is {i} plus {i + 2}?", answer=str(2 * i + 2)).with_inputs("question")
        for i in range(1, 15)
    ]

    def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
        return float(pred.answer.strip().endswith(gold.answer))

    optimizer = spl_opt.SPL(
        metric,
        budget=80,
        lm=scripted_lm(two_step_answer),
        editor_lm=scripted_lm([editor_reply("add", "Add the two numbers given in the facts.")]),
        run_dir=tmp_path / "run",
        minibatch_size=3,
        operators={"editor": 1.0},
    )
    student = ExtractThenAnswer()
    optimized = optimizer.compile(student, trainset=rows[:8], valset=rows[8:])
    best = optimized.spl_result.best.playbook
    assert optimized.spl_result.search.best.evaluation.objectives.accuracy == 1.0
    assert best.part("extract").render() == EXTRACT and optimized.extract.signature.instructions == EXTRACT
    assert "Add the two numbers" in best.part("answer").render()
    assert "Add the two numbers" in optimized.answer.signature.instructions

    events, _ = read_events(tmp_path / "run" / JOURNAL)
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert proposals and all(p.step == "answer" and "lost it" in p.blame for p in proposals)
    assert all(e.part == "answer" for p in proposals for e in p.proposal.edits)
    candidates = load_candidates(events)
    chain = ancestry(optimized.spl_result.best.id, candidates)
    by_part = lineage_by_part(chain)
    assert by_part["extract"] == [] and len(by_part["answer"]) == len(chain) - 1 >= 1

    from spl_opt.tuning.outcomes import outcomes_of

    outcomes = outcomes_of(events, "run", "api")
    assert outcomes and all(o.step == "answer" for o in outcomes)
    assert outcomes[0].parent.render() == ExtractThenAnswer().answer.signature.instructions

    def no_call(system: str, user: str) -> str:
        raise AssertionError("a finished run replays from its journal and cache")

    optimizer.lm = scripted_lm(no_call)
    again = optimizer.compile(ExtractThenAnswer(), trainset=rows[:8], valset=rows[8:])
    assert again.spl_result.best.id == optimized.spl_result.best.id
