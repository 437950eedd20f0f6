import random
from collections import Counter

import pytest

from spl_opt.core.protocols import Member, Selector
from spl_opt.core.records import Candidate, Evaluation, ExampleResult, Objectives, Playbook
from spl_opt.search.selection import ParetoSelector, instance_fronts, parent_weights, sample_parent


def member(name: str, scores: dict[str, float], length: int) -> Member:
    candidate = Candidate(playbook=Playbook(preamble=name))
    results = tuple(ExampleResult(example_id=e, score=s) for e, s in scores.items())
    accuracy = sum(scores.values()) / len(scores) if scores else 0.0
    evaluation = Evaluation(
        candidate_id=candidate.id,
        split="val",
        results=results,
        objectives=Objectives(accuracy=accuracy, length_tokens=length),
    )
    return Member(candidate=candidate, evaluation=evaluation)


def names(members: list[Member]) -> list[str]:
    return [m.candidate.playbook.preamble for m in members]


def test_instance_fronts_with_ties_and_missing_examples():
    scores = {"a": {"e1": 1.0, "e2": 0.0}, "b": {"e1": 1.0, "e2": 0.5}, "c": {"e3": 0.2}}
    assert instance_fronts(scores) == {"e1": {"a", "b"}, "e2": {"b"}, "e3": {"c"}}
    assert instance_fronts({}) == {}


def test_parent_weights_removes_strictly_contained_winners():
    # a is best on e1, e2; b only on e2 (contained in a's) -> dropped; c is alone on e3.
    scores = {
        "a": {"e1": 1, "e2": 1, "e3": 0},
        "b": {"e1": 0, "e2": 1, "e3": 0},
        "c": {"e1": 0, "e2": 0, "e3": 1},
    }
    assert parent_weights(scores) == {"a": 2, "c": 1}


def test_parent_weights_equal_won_sets_tie_break():
    # a and b win exactly {e1}; a has the higher total score, so b is dominated.
    scores = {
        "b": {"e1": 1, "e2": 0.2, "e3": 0},
        "a": {"e1": 1, "e2": 0.5, "e3": 0},
        "c": {"e1": 0, "e2": 0.9, "e3": 1},
    }
    assert parent_weights(scores) == {"a": 1, "c": 2}
    # equal totals: the lower id is kept
    tied = {"y": {"e1": 1, "e2": 0}, "x": {"e1": 1, "e2": 0}, "z": {"e1": 0, "e2": 1}}
    assert parent_weights(tied) == {"x": 1, "z": 1}


def test_parent_weights_keeps_incomparable_winners():
    # a wins {e1, e2}, b wins {e2, e3}: neither set contains the other.
    scores = {"a": {"e1": 1, "e2": 1, "e3": 0}, "b": {"e1": 0, "e2": 1, "e3": 1}}
    assert parent_weights(scores) == {"a": 2, "b": 2}


def test_all_zero_examples_are_ignored():
    scores = {"a": {"e1": 1, "e2": 0}, "b": {"e1": 0, "e2": 0}}
    # e2 would put both in its front; ignored, so b is not a winner at all.
    assert parent_weights(scores) == {"a": 1}


def test_fallback_when_nothing_wins():
    assert parent_weights({"b": {"e1": 0}, "a": {"e1": 0}}) == {"a": 1, "b": 1}
    assert parent_weights({"b": {}, "a": {}}) == {"a": 1, "b": 1}
    assert parent_weights({}) == {}


def test_sample_parent_is_deterministic_and_weighted():
    scores = {
        "a": {"e1": 1, "e2": 1, "e3": 0},
        "b": {"e1": 0, "e2": 1, "e3": 0},
        "c": {"e1": 0, "e2": 0, "e3": 1},
    }
    draws = [sample_parent(scores, random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1
    rng_one, rng_two = random.Random(3), random.Random(3)
    assert [sample_parent(scores, rng_one) for _ in range(50)] == [
        sample_parent(dict(reversed(scores.items())), rng_two) for _ in range(50)
    ]
    rng = random.Random(0)
    counts = Counter(sample_parent(scores, rng) for _ in range(3000))
    assert "b" not in counts
    assert counts["a"] / 3000 == pytest.approx(2 / 3, abs=0.05)


def test_sample_parent_empty_raises():
    with pytest.raises(ValueError):
        sample_parent({}, random.Random(0))


def test_selector_satisfies_protocol():
    selector: Selector = ParetoSelector()
    assert callable(selector.parents) and callable(selector.survivors)


def test_parents_come_from_the_per_example_winners():
    population = [
        member("generalist", {"e1": 1, "e2": 1, "e3": 0}, 50),
        member("weak", {"e1": 0, "e2": 1, "e3": 0}, 10),
        member("specialist", {"e1": 0, "e2": 0, "e3": 1}, 30),
    ]
    selector = ParetoSelector()
    parents = selector.parents(population, 200, random.Random(1))
    assert len(parents) == 200
    counts = Counter(names(parents))
    assert set(counts) == {"generalist", "specialist"}
    assert counts["generalist"] > counts["specialist"]
    assert names(selector.parents(population, 20, random.Random(5))) == names(
        selector.parents(population, 20, random.Random(5))
    )
    assert selector.parents(population, 0, random.Random(0)) == []
    with pytest.raises(ValueError):
        selector.parents([], 1, random.Random(0))


def test_survivors_keeps_everyone_when_room_and_dedupes():
    a = member("a", {"e1": 1}, 10)
    b = member("b", {"e1": 0}, 5)
    assert ParetoSelector().survivors([a, b, a], 5) == [a, b]
    with pytest.raises(ValueError):
        ParetoSelector().survivors([a], 0)


def test_survivors_size_one_is_the_champion_shortest_on_ties():
    population = [
        member("long_best", {"e1": 1, "e2": 1}, 90),
        member("short_best", {"e1": 1, "e2": 1}, 40),
        member("tiny", {"e1": 0, "e2": 0}, 1),
    ]
    assert names(ParetoSelector().survivors(population, 1)) == ["short_best"]


def test_survivors_protect_a_specialist_dominated_on_objectives():
    # "specialist" is dominated on (accuracy, -length) by "short" and "best", but it is the only
    # member solving e4, so it survives; plain NSGA-II would keep "short" instead.
    population = [
        member("best", {"e1": 1, "e2": 1, "e3": 1, "e4": 0}, 100),
        member("short", {"e1": 1, "e2": 1, "e3": 0, "e4": 0}, 10),
        member("specialist", {"e1": 0, "e2": 0, "e3": 0, "e4": 1}, 80),
        member("mid", {"e1": 1, "e2": 0, "e3": 0, "e4": 0}, 50),
    ]
    survivors = ParetoSelector().survivors(population, 2)
    assert names(survivors) == ["best", "specialist"]
    # with one more slot, NSGA-II picks "short" (front 0) over "mid"; order follows the population
    assert names(ParetoSelector().survivors(population, 3)) == ["best", "short", "specialist"]


def test_survivors_when_winners_do_not_fit():
    # every member is alone on one example except "wide", which wins two; the champion is "acc".
    population = [
        member("s1", {"e1": 1, "e2": 0, "e3": 0, "e4": 0, "e5": 0, "e6": 0.0}, 30),
        member("s2", {"e1": 0, "e2": 1, "e3": 0, "e4": 0, "e5": 0, "e6": 0.0}, 20),
        member("wide", {"e1": 0, "e2": 0, "e3": 1, "e4": 1, "e5": 0, "e6": 0.0}, 40),
        member("acc", {"e1": 0.9, "e2": 0.9, "e3": 0.9, "e4": 0.9, "e5": 1, "e6": 0.5}, 99),
    ]
    assert names(ParetoSelector().survivors(population, 2)) == ["wide", "acc"]
    # next winner by examples won ties at 1 -> by accuracy (equal) then length: s2 before s1
    assert names(ParetoSelector().survivors(population, 3)) == ["s2", "wide", "acc"]


def test_survivors_fill_with_nsga2_when_winners_fit():
    population = [
        member("top", {"e1": 1, "e2": 1}, 50),
        member("short_ok", {"e1": 1, "e2": 0}, 5),
        member("dominated", {"e1": 1, "e2": 0}, 60),
        member("bad", {"e1": 0, "e2": 0}, 70),
    ]
    # only "top" is a winner (short_ok's won set is contained in top's); NSGA-II adds short_ok.
    assert names(ParetoSelector().survivors(population, 2)) == ["top", "short_ok"]
    assert names(ParetoSelector().survivors(population, 3)) == ["top", "short_ok", "dominated"]


@pytest.mark.parametrize("seed", range(20))
def test_survivors_invariants_random(seed):
    rng = random.Random(seed)
    examples = [f"e{i}" for i in range(6)]
    population = [
        member(f"m{i}", {e: float(rng.random() < 0.4) for e in examples}, rng.randint(5, 50))
        for i in range(rng.randint(2, 12))
    ]
    size = rng.randint(1, len(population))
    survivors = ParetoSelector().survivors(population, size)
    assert len(survivors) == min(size, len({m.candidate.id for m in population}))
    best = max(m.evaluation.objectives.accuracy for m in population)
    assert any(m.evaluation.objectives.accuracy == best for m in survivors)
    order = [m.candidate.id for m in population]
    assert [m.candidate.id for m in survivors] == sorted((m.candidate.id for m in survivors), key=order.index)
