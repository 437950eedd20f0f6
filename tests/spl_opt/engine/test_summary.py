import dspy

from spl_opt.api import optimize
from spl_opt.core.protocols import ProgramOutput
from spl_opt.core.records import Evaluation, Example, ExampleResult, Objectives
from spl_opt.engine.summary import cut_off_count, cut_off_warning
from spl_opt.report import write_report
from spl_opt.testing import editor_reply, scripted_lm

RULE = "Answer at once: yes or no."


def _evaluation(truncated: int, finished: int, failed: int = 0) -> Evaluation:
    results = [
        *(
            ExampleResult(example_id=f"t{i}", score=0.0, truncated=True, outcome="no_answer")
            for i in range(truncated)
        ),
        *(ExampleResult(example_id=f"f{i}", score=1.0) for i in range(finished)),
        *(ExampleResult(example_id=f"e{i}", score=0.0, error="down", truncated=True) for i in range(failed)),
    ]
    return Evaluation(
        candidate_id="c",
        split="val",
        results=tuple(results),
        objectives=Objectives(accuracy=0, length_tokens=1),
    )


def test_cut_off_counts_outputs_at_the_limit_among_calls_that_did_not_fail():
    assert _evaluation(2, 3, failed=4).cut_off == 2
    assert cut_off_count(_evaluation(2, 3, failed=4)) == "2/5" and cut_off_count(None) == "–"
    assert cut_off_count(_evaluation(2, 3), reported=False) == "not reported"


def test_a_fifth_or_more_cut_off_is_one_warning_line():
    assert cut_off_warning(_evaluation(1, 5), "seed") is None
    warning = cut_off_warning(_evaluation(2, 8), "seed validation")
    assert warning is not None and "2 of 10 seed validation outputs" in warning and "--max-tokens" in warning
    assert cut_off_warning(_evaluation(0, 0, failed=3), "seed") is None


def _run(tmp_path, rule_fixes: bool, **kwargs):
    def answer(system: str, user: str) -> str:
        if rule_fixes and RULE.lower() in system.lower():
            return "Answer: yes"
        return "Let me think " + "and think " * 20

    rows = [dspy.Example(question=f"q{i}", answer="yes").with_inputs("question") for i in range(14)]
    return optimize(
        trainset=rows[:4],
        valset=rows[4:10],
        testset=rows[10:],
        metric=lambda ex, text: text.strip().endswith("yes"),
        lm=scripted_lm(answer, max_tokens=16),
        editor_lm=scripted_lm([editor_reply("add", RULE)]),
        budget=30,
        run_dir=tmp_path / "run",
        **kwargs,
    )


def test_a_run_whose_seed_answers_run_out_of_tokens_says_so_once_in_its_log_summary_and_report(tmp_path):
    result = _run(tmp_path, rule_fixes=True)
    seed = result.report.search.seed.evaluation
    assert seed.cut_off == 6 and all(r.outcome == "no_answer" for r in seed.results)
    assert result.report.search.best.evaluation.cut_off == 0 and result.report.reports_truncation
    log = (tmp_path / "run" / "run.log").read_text()
    assert log.count("warning:") == 1
    assert "warning: 6 of 6 seed validation outputs stopped at the task LM's generation limit" in log
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| seed | 0.000 |" in summary and "| 6/6, 4/4 |" in summary and "| 0/6, 0/4 |" in summary
    assert summary.count("warning:") == 1 and "per call.\n\n" in summary
    html = write_report(tmp_path / "run").read_text()
    assert "<td>6/6, 4/4</td>" in html and "<td>0/6, 0/4</td>" in html


def test_only_the_children_cut_off_too_warn_once_and_the_kept_seed_is_not_warned_about_twice(tmp_path):
    result = _run(tmp_path, rule_fixes=False)
    assert result.report.search.best.candidate.id == result.report.search.seed.candidate.id
    assert (tmp_path / "run" / "run.log").read_text().count("warning:") == 1  # the seed's, not its children's
    assert (tmp_path / "run" / "summary.md").read_text().count("warning:") == 1


class _Says:
    """A task program of the Program protocol that does not tell whether its outputs were cut off."""

    cache_namespace = "says-yes"

    def run(self, system_prompt: str, example: Example) -> ProgramOutput:
        return ProgramOutput(value="yes", text="yes")


def _run_program(tmp_path, program, lm=None):
    rows = [dspy.Example(question=f"q{i}", answer="yes").with_inputs("question") for i in range(8)]
    return optimize(
        program,
        trainset=rows[:3],
        valset=rows[3:],
        metric=lambda ex, pred: str(getattr(pred, "answer", pred)).strip() == "yes",
        lm=lm,
        editor_lm=scripted_lm([editor_reply("add", RULE)]),
        budget=20,
        run_dir=tmp_path / "run",
    )


def test_a_program_that_does_not_tell_cut_off_outputs_is_not_reported_as_cutting_none(tmp_path):
    result = _run_program(tmp_path, _Says(), lm=scripted_lm(["unused"]))
    assert not result.report.reports_truncation
    assert "| not reported |" in (tmp_path / "run" / "summary.md").read_text()


def test_a_dspy_programs_cut_off_outputs_are_counted(tmp_path):
    class Answer(dspy.Signature):
        question: str = dspy.InputField()
        answer: str = dspy.OutputField()

    lm = scripted_lm(
        lambda s, u: "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]" + " more" * 30, max_tokens=8
    )
    result = _run_program(tmp_path, dspy.Predict(Answer), lm=lm)
    assert result.report.reports_truncation and result.report.search.seed.evaluation.cut_off == 5
    assert "| 5/5, – |" in (tmp_path / "run" / "summary.md").read_text()
