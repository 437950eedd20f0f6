"""benchmarks.priors: leave-one-task-out likelihood of screening outcomes under learned priors."""

import math

from benchmarks import priors
from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Playbook
from spl_opt.tuning.outcomes import EditOutcome

WRONG = Evidence(failures=(EvidenceItem(input="q", target="7", output="Answer: 5", feedback="", score=0.0),))


def outcome(task: str, operator: str, accepted: bool) -> EditOutcome:
    parent = Playbook(preamble="p")
    return EditOutcome(
        run="r",
        task=task,
        iteration=0,
        operator=operator,
        needs_lm=operator == "editor",
        parent_id=parent.id,
        parent=parent,
        evidence=WRONG,
        accepted=accepted,
    )


def test_the_likelihood_counts_each_outcome_after_the_ones_before_it():
    two = [outcome("a", "merge", True), outcome("a", "merge", True)]
    assert math.isclose(priors.log_likelihood(two, None), math.log(1 / 2) + math.log(2 / 3))
    tuned = {"wrong": {"merge": (3.0, 1.0)}}
    assert math.isclose(priors.log_likelihood(two, tuned), math.log(3 / 4) + math.log(4 / 5))


def test_priors_from_the_other_tasks_predict_a_task_that_behaves_like_them_better_than_uniform():
    data = [outcome(t, "merge", True) for t in "abc" for _ in range(3)] + [outcome("c", "editor", False)]
    result = priors.leave_one_task_out(data, (5.0,))
    assert result["tasks"] == 3 and result["outcomes"] == 10
    scores = result["log_likelihood"]
    assert scores["learned, cap 5"] > scores["uniform"]


def test_transfer_sets_the_tuning_rate_beside_the_held_out_rate():
    data = [outcome("a", "worked-example", True), outcome("a", "worked-example", False)]
    held = [
        {"arm": "worked-example", "usable": True, "shown_gain": 0.25},
        {"arm": "worked-example", "usable": False, "shown_gain": None},
    ]
    rows = {r["operator"]: r for r in priors.transfer(data, held)}
    assert rows["worked-example"]["tuning"][0] == 0.5 and rows["worked-example"]["held_out"][0] == 1.0
    assert rows["worked-example"]["held_out_n"] == 1 and rows["editor"]["tuning"] is None
    assert "| worked-example | 0.50" in priors.to_markdown(
        {"leave_one_task_out": priors.leave_one_task_out(data, (1.0,)), "transfer": list(rows.values())},
        "cmd",
    )
