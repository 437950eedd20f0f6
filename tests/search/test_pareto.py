import math
import random

import optuna
import pytest

from spl_opt.search.pareto import crowding_distance, dominates, non_dominated_sort, nsga2_select, pareto_front


def random_points(rng: random.Random, n: int, dims: int, levels: int = 5) -> list[tuple[float, ...]]:
    """Points on a coarse grid, so that ties and exact duplicates are common."""
    return [tuple(float(rng.randrange(levels)) for _ in range(dims)) for _ in range(n)]


def test_dominates():
    assert dominates((1, 1), (0, 1))
    assert dominates((1, 2, 3), (1, 2, 2))
    assert not dominates((1, 1), (1, 1))
    assert not dominates((1, 0), (0, 1))
    assert not dominates((0, 1), (1, 1))
    with pytest.raises(ValueError):
        dominates((1, 2), (1,))


def test_non_dominated_sort_hand_example():
    points = [(1, 0), (0, 1), (0.5, 0.5), (0, 0), (0.4, 0.4), (1, 0)]
    assert non_dominated_sort(points) == [[0, 1, 2, 5], [4], [3]]
    assert pareto_front(points) == [0, 1, 2, 5]


def test_non_dominated_sort_chain_and_empty():
    assert non_dominated_sort([(0,), (2,), (1,)]) == [[1], [2], [0]]
    assert non_dominated_sort([]) == []
    assert pareto_front([]) == []
    with pytest.raises(ValueError):
        non_dominated_sort([(1, 2), (1,)])


def test_duplicates_share_a_front():
    points = [(1, 1), (1, 1), (0, 0), (0, 0)]
    assert non_dominated_sort(points) == [[0, 1], [2, 3]]


@pytest.mark.parametrize("seed", range(40))
def test_non_dominated_sort_properties(seed):
    rng = random.Random(seed)
    points = random_points(rng, rng.randint(1, 30), rng.choice([1, 2, 3]))
    fronts = non_dominated_sort(points)
    assert sorted(i for front in fronts for i in front) == list(range(len(points)))
    assert all(front == sorted(front) and front for front in fronts)
    for i in fronts[0]:
        assert not any(dominates(p, points[i]) for p in points)
    for k in range(1, len(fronts)):
        for i in fronts[k]:
            # dominated by the previous front, and by nothing in its own or a later front
            assert any(dominates(points[j], points[i]) for j in fronts[k - 1])
            assert not any(dominates(points[j], points[i]) for front in fronts[k:] for j in front)


def test_crowding_distance_hand_example():
    points = [(0, 4), (1, 3), (2, 2), (4, 0)]
    distance = crowding_distance(points, [0, 1, 2, 3])
    assert distance[0] == math.inf and distance[3] == math.inf
    assert distance[1] == pytest.approx((2 - 0) / 4 + (4 - 2) / 4)
    assert distance[2] == pytest.approx((4 - 1) / 4 + (3 - 0) / 4)


def test_crowding_distance_subset_and_small_fronts():
    points = [(0, 4), (9, 9), (1, 3), (4, 0)]
    distance = crowding_distance(points, [0, 2, 3])
    assert set(distance) == {0, 2, 3}
    assert distance[0] == distance[3] == math.inf
    assert distance[2] == pytest.approx(1.0 + 1.0)
    assert crowding_distance(points, [1]) == {1: math.inf}
    assert crowding_distance(points, [0, 1]) == {0: math.inf, 1: math.inf}
    assert crowding_distance(points, []) == {}


def test_crowding_distance_zero_range():
    # objective 0 is constant: it adds nothing; objective 1 gives boundaries and the middle value.
    points = [(1, 0), (1, 1), (1, 2)]
    assert crowding_distance(points, [0, 1, 2]) == {0: math.inf, 1: 1.0, 2: math.inf}
    same = [(1, 1)] * 4
    assert crowding_distance(same, [0, 1, 2, 3]) == dict.fromkeys(range(4), 0.0)


@pytest.mark.parametrize("seed", range(20))
def test_crowding_boundaries_are_infinite(seed):
    rng = random.Random(seed)
    points = [(rng.random(), rng.random()) for _ in range(rng.randint(3, 20))]
    front = pareto_front(points)
    distance = crowding_distance(points, front)
    for m in range(2):
        values = [points[i][m] for i in front]
        for i in front:
            if points[i][m] in (min(values), max(values)):
                assert distance[i] == math.inf


def test_nsga2_select_cuts_last_front_by_crowding():
    # front 0 = {0}; front 1 = {1, 2, 3, 4}: boundaries 1 and 4, then 3 (1.75) is less crowded than 2 (1.5)
    points = [(10, 10), (0, 4), (0.5, 3.5), (3, 1), (4, 0)]
    assert nsga2_select(points, 1) == [0]
    assert nsga2_select(points, 3) == [0, 1, 4]
    assert nsga2_select(points, 4) == [0, 1, 4, 3]
    assert nsga2_select(points, 0) == []
    assert sorted(nsga2_select(points, 99)) == list(range(5))


def test_nsga2_select_ties_broken_by_index():
    points = [(1, 1)] * 5
    assert nsga2_select(points, 2) == [0, 1]


@pytest.mark.parametrize("seed", range(30))
def test_nsga2_select_properties(seed):
    rng = random.Random(seed)
    points = random_points(rng, rng.randint(1, 25), 2)
    size = rng.randint(1, len(points) + 2)
    chosen = nsga2_select(points, size)
    assert len(chosen) == min(size, len(points))
    assert len(set(chosen)) == len(chosen)
    assert chosen == nsga2_select(points, size)
    fronts = non_dominated_sort(points)
    if len(fronts[0]) <= size:
        assert set(fronts[0]) <= set(chosen)
    else:
        assert set(chosen) <= set(fronts[0])
    # no unchosen point belongs to a strictly better front than a chosen one
    rank = {i: k for k, front in enumerate(fronts) for i in front}
    if len(chosen) < len(points):
        worst_chosen = max(rank[i] for i in chosen)
        assert all(rank[i] >= worst_chosen for i in range(len(points)) if i not in chosen)


def optuna_front(accuracy_length: list[tuple[float, int]]) -> set[int]:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, length in accuracy_length:
        study.add_trial(optuna.trial.create_trial(values=[acc, length]))
    return {t.number for t in study.best_trials}


@pytest.fixture(autouse=False)
def quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.mark.parametrize("seed", range(25))
def test_front_matches_optuna_best_trials(seed, quiet_optuna):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    pairs = [(rng.randrange(9) / 8, rng.randint(10, 16)) for _ in range(n)]
    pairs += [pairs[rng.randrange(n)] for _ in range(rng.randint(0, 5))]  # exact duplicates
    ours = set(pareto_front([(acc, -length) for acc, length in pairs]))
    assert ours == optuna_front(pairs)


def test_duplicates_on_the_front_match_optuna(quiet_optuna):
    # Optuna keeps every copy of a non-dominated point in best_trials, as we do.
    pairs = [(1.0, 20), (1.0, 20), (0.5, 10), (0.5, 10), (0.5, 20), (0.5, 20)]
    assert set(pareto_front([(a, -n) for a, n in pairs])) == {0, 1, 2, 3}
    assert optuna_front(pairs) == {0, 1, 2, 3}
