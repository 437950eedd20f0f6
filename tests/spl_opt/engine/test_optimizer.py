from pathlib import Path

import pytest

from spl_opt.backends.local import local_evaluator
from spl_opt.config import SearchConfig
from spl_opt.core.records import Candidate, Playbook
from spl_opt.engine.driver import Live, done, drive
from spl_opt.engine.events import EventList
from spl_opt.engine.optimizer import Optimizer
from spl_opt.engine.runner import default_operators, task_scorer
from spl_opt.engine.work import ProposeRequest
from spl_opt.evaluators.task import EvalRequest
from spl_opt.programs import ChatProgram
from spl_opt.search.budget import Budget


def _setup(tmp_path: Path, task, task_lm, editor_lm, rollouts: int = 80, operators=None):
    evaluator = local_evaluator(ChatProgram(task_lm), task_scorer(task))
    search = SearchConfig(minibatch_size=3, operators=operators or {"editor": 1.0})
    opt = Optimizer(
        Candidate(playbook=Playbook(preamble=task.seed_prompt)),
        task.train,
        task.val,
        default_operators(editor_lm),
        EventList(),
        search=search,
        budget=Budget(max_rollouts=rollouts),
    )
    return opt, evaluator


def _drive(opt, evaluator, requested=None):
    """The production driver, with proposals run in this thread; `requested` collects the requests."""
    if requested is not None:
        submit = evaluator.submit
        evaluator.submit = lambda request, **kw: requested.append(request) or submit(request, **kw)
    return drive(opt, Live(evaluator, lambda request: done(opt.propose_here(request))))


def test_search_learns_the_hint_and_never_sees_test_data(tmp_path, toy_task, task_lm, editor_lm):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm)
    requested: list[EvalRequest] = []
    result = _drive(opt, evaluator, requested)
    assert result.seed.evaluation.objectives.accuracy == 0.0
    assert result.best.evaluation.objectives.accuracy == 1.0
    assert "add the two numbers" in result.best.candidate.prompt
    test_ids = {e.id for e in toy_task.test}
    assert all(r.split != "test" and not test_ids & {e.id for e in r.examples} for r in requested)
    assert result.rollouts <= 80  # never more than the budget, even mid-iteration
    assert result.editor_usage.calls >= 1
    assert result.front[0].evaluation.objectives.accuracy == 1.0 or len(result.front) > 1


def test_ask_tell_protocol_is_keyed_and_steady_state(tmp_path, toy_task, task_lm, editor_lm):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm)
    opt.search = opt.search.model_copy(update={"parallel": 3})
    (seed,) = opt.ask()
    assert seed.key == "0.0" and seed.work.split == "val"
    assert opt.ask() == []  # nothing new until the seed is told
    with pytest.raises(KeyError):
        opt.tell("9.9", evaluator.evaluate_many([seed.work])[0])
    opt.tell(seed.key, evaluator.evaluate_many([seed.work])[0])
    assert opt.best_accuracy() == 0.0
    first = opt.ask()
    assert [p.key for p in first] == ["1.0", "2.0", "3.0"] and opt.in_flight == ["1.0", "2.0", "3.0"]
    # telling only iteration 2 moves it on (to its proposal) while 1 and 3 stay in flight
    opt.tell("2.0", evaluator.evaluate_many([first[1].work])[0])
    (nxt,) = opt.ask()
    assert nxt.key == "2.1" and isinstance(nxt.work, ProposeRequest) and nxt.work.iteration == 2
    assert sorted(opt.in_flight) == ["1.0", "2.1", "3.0"]
    events = [e.event for e in opt.events.events]
    assert events.count("tell") == 2


def test_budget_stops_the_search(tmp_path, toy_task, task_lm, editor_lm):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm, rollouts=10)
    result = _drive(opt, evaluator)
    assert "rollout budget" in result.stop_reason
    assert result.iterations >= 1


def test_structural_operators_alone_run_without_an_lm_editor(tmp_path, toy_task, task_lm):
    opt, evaluator = _setup(
        tmp_path,
        toy_task,
        task_lm,
        None,
        rollouts=60,
        operators={"worked-example": 1.0, "ablate": 1.0, "compress": 1.0, "merge": 1.0},
    )
    result = _drive(opt, evaluator)
    assert result.editor_usage.calls == 0
    assert result.iterations >= 1


def test_parallel_iterations_give_a_valid_search(tmp_path, toy_task, task_lm, editor_lm):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm)
    opt.search = opt.search.model_copy(update={"parallel": 3})
    result = _drive(opt, evaluator)
    assert result.best.evaluation.objectives.accuracy == 1.0


@pytest.mark.parametrize("parallel,budget", [(1, 37), (3, 37), (3, 52)])
def test_the_rollout_budget_is_never_exceeded(tmp_path, toy_task, task_lm, editor_lm, parallel, budget):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm, rollouts=budget)
    opt.search = opt.search.model_copy(update={"parallel": parallel})
    result = _drive(opt, evaluator)
    assert result.rollouts <= budget


def test_a_child_whose_validation_would_overshoot_the_budget_is_not_validated(
    tmp_path, toy_task, task_lm, editor_lm
):
    # seed val (8) + parent and child minibatches (3 + 3) = 14; validating the child needs 8 more
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm, rollouts=20)
    result = _drive(opt, evaluator)
    assert result.rollouts == 14 and len(result.members) == 1
    assert "too few left for validating the accepted child" in result.stop_reason


def test_a_deterministic_operator_is_not_drawn_again_for_a_parent_it_was_measured_on(
    tmp_path, toy_task, task_lm
):
    # the answer-format child cannot help this task model, so it loses its screen; drawn again for the
    # same parent it would only rebuild that child, so it is not drawn and no iteration is a duplicate
    evaluator = local_evaluator(ChatProgram(task_lm), task_scorer(toy_task))
    opt = Optimizer(
        Candidate(playbook=Playbook(preamble=toy_task.seed_prompt)),
        toy_task.train,
        toy_task.val,
        default_operators(None, toy_task.train),
        EventList(),
        search=SearchConfig(minibatch_size=3, operators={"answer-format": 1.0}),
        budget=Budget(max_rollouts=60, max_iterations=6),
    )
    _drive(opt, evaluator)
    events = opt.events.events
    assert [e.operator for e in events if e.event == "proposal"] == ["answer-format"]
    reasons = [e.reason for e in events if e.event == "skip"]
    assert reasons and all(r == "no operator applies" for r in reasons)
    [proposal] = [e for e in events if e.event == "proposal"]
    assert proposal.evidence is not None and proposal.evidence.failures  # what the operator was shown


def test_the_editor_is_asked_for_a_kind_of_edit_and_the_policy_counts_that_arm(
    tmp_path, toy_task, task_lm, editor_lm
):
    opt, evaluator = _setup(tmp_path, toy_task, task_lm, editor_lm)
    _drive(opt, evaluator)
    from spl_opt.engine.events import ProposalEvent

    asked = [e.evidence.kind for e in opt.events.events if isinstance(e, ProposalEvent)]
    assert asked and set(asked) <= {"", "add", "revise", "delete", "preamble"}
    arms = {arm for _, arm in opt.state.policy}
    assert "editor" in arms and any(arm.startswith("editor:") for arm in arms)
    tried = sum(s.tried for (_, arm), s in opt.state.policy.items() if arm.startswith("editor:"))
    assert tried == opt.state.ops["editor"].tried  # every screened edit counts for its kind arm too
