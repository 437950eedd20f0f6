import pytest
from pydantic import ValidationError

from spl_opt.search.budget import Budget, exhausted


def test_unlimited_budget_never_exhausted():
    assert exhausted(Budget(), rollouts=10**9, iterations=10**9, elapsed=1e9, since_improvement=10**9) is None


@pytest.mark.parametrize("field", ["max_rollouts", "max_iterations", "max_wall_seconds", "patience"])
@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(field, value):
    with pytest.raises(ValidationError):
        Budget(**{field: value})


def test_budget_is_frozen_strict_and_round_trips():
    budget = Budget(max_rollouts=300, max_wall_seconds=60.0, patience=5)
    with pytest.raises(ValidationError):
        budget.max_rollouts = 1
    with pytest.raises(ValidationError):
        Budget(max_rolouts=3)  # type: ignore[call-arg]
    assert Budget.model_validate_json(budget.model_dump_json()) == budget


def test_rollouts():
    budget = Budget(max_rollouts=300)
    assert exhausted(budget, rollouts=299) is None
    assert exhausted(budget, rollouts=300) == "rollout budget spent (300/300)"
    assert exhausted(budget, rollouts=312) == "rollout budget spent (312/300)"


def test_iterations():
    budget = Budget(max_iterations=10)
    assert exhausted(budget, iterations=9) is None
    assert exhausted(budget, iterations=10) == "iteration budget spent (10/10)"


def test_wall_time():
    budget = Budget(max_wall_seconds=60)
    assert exhausted(budget, elapsed=59.9) is None
    assert exhausted(budget, elapsed=61.23) == "time budget spent (61.2s/60s)"


def test_patience():
    budget = Budget(patience=5)
    assert exhausted(budget, since_improvement=4) is None
    reason = exhausted(budget, since_improvement=5)
    assert reason is not None and "5 iterations" in reason and "patience 5" in reason


def test_first_reached_limit_in_field_order_wins():
    budget = Budget(max_rollouts=10, max_iterations=2, patience=1)
    assert exhausted(budget, rollouts=10, iterations=2, since_improvement=1) == "rollout budget spent (10/10)"
    assert exhausted(budget, rollouts=3, iterations=2, since_improvement=1) == "iteration budget spent (2/2)"
    assert exhausted(budget, rollouts=3, iterations=1, since_improvement=1) is not None
    assert exhausted(budget, rollouts=3, iterations=1, since_improvement=0) is None
