import dspy

from spl_opt.api import optimize
from spl_opt.core.records import Evaluation, ExampleResult, Objectives
from spl_opt.engine.summary import cut_off_count, cut_off_warning
from spl_opt.testing import editor_reply, scripted_lm


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


def test_a_fifth_or_more_cut_off_is_one_warning_line():
    assert cut_off_warning(_evaluation(1, 5), "seed") is None
    warning = cut_off_warning(_evaluation(2, 8), "seed validation")
    assert warning is not None and "2 of 10 seed validation outputs" in warning and "--max-tokens" in warning
    assert cut_off_warning(_evaluation(0, 0, failed=3), "seed") is None


def test_a_run_whose_seed_answers_run_out_of_tokens_says_so_in_its_log_and_summary(tmp_path):
    def answer(system: str, user: str) -> str:
        return "Answer: yes" if "answer at once" in system.lower() else "Let me think " + "and think " * 20

    rows = [dspy.Example(question=f"q{i}", answer="yes").with_inputs("question") for i in range(10)]
    result = optimize(
        trainset=rows[:4],
        valset=rows[4:],
        metric=lambda ex, text: text.strip().endswith("yes"),
        lm=scripted_lm(answer, max_tokens=16),
        editor_lm=scripted_lm([editor_reply("add", "Answer at once: yes or no.")]),
        budget=30,
        run_dir=tmp_path / "run",
    )
    seed = result.report.search.seed.evaluation
    assert seed.cut_off == 6 and all(r.outcome == "no_answer" for r in seed.results)
    log = (tmp_path / "run" / "run.log").read_text()
    assert "warning: 6 of 6 seed validation outputs stopped at the task LM's generation limit" in log
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "| seed | 0.000 |" in summary and "| 6/6, – |" in summary
    assert "warning: 6 of 6 seed validation outputs" in summary
    assert result.report.search.best.evaluation.cut_off == 0
