"""GEPA-style per-example Pareto parent sampling, and the population selector.

`scores` maps candidate id -> example id -> score. A candidate missing an example scores 0 on it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from spl_opt.core.protocols import Member
from spl_opt.search.pareto import nsga2_select

Scores = Mapping[str, Mapping[str, float]]


def _score(scores: Scores, candidate_id: str, example_id: str) -> float:
    return scores[candidate_id].get(example_id, 0.0)


def instance_fronts(scores: Scores) -> dict[str, set[str]]:
    """For each example id seen in `scores`, the ids of the candidates reaching the max score on it."""
    example_ids = sorted({e for per_example in scores.values() for e in per_example})
    fronts: dict[str, set[str]] = {}
    for example_id in example_ids:
        best = max(_score(scores, c, example_id) for c in scores)
        fronts[example_id] = {c for c in scores if _score(scores, c, example_id) == best}
    return fronts


def _front_winners(scores: Scores) -> dict[str, int]:
    """Non-dominated instance-front members -> number of examples they are best on (may be empty).

    Examples where every candidate scores 0 are ignored. With `won(X)` the set of examples where X
    is best, A is dominated by B when won(B) strictly contains won(A), or when won(A) == won(B) and
    B ranks first by (higher total score, lower id). This is the pairwise form of GEPA's
    `remove_dominated_programs`; it keeps one representative per maximal won-set, so every
    counted example still has a winner among the survivors.
    """
    won: dict[str, set[str]] = {}
    for example_id, front in instance_fronts(scores).items():
        if all(_score(scores, c, example_id) == 0 for c in scores):
            continue
        for c in front:
            won.setdefault(c, set()).add(example_id)
    rank = {c: (-sum(scores[c].values()), c) for c in won}

    def dominated(a: str) -> bool:
        return any(won[b] > won[a] or (won[b] == won[a] and rank[b] < rank[a]) for b in won if b != a)

    return {c: len(won[c]) for c in sorted(won) if not dominated(c)}


def parent_weights(scores: Scores) -> dict[str, int]:
    """Sampling weight per candidate: the number of instance fronts it is in, after removing
    dominated candidates (see `_front_winners`). If no candidate remains, every candidate gets 1."""
    winners = _front_winners(scores)
    return winners if winners else dict.fromkeys(sorted(scores), 1)


def _draw(weights: Mapping[str, int], rng: random.Random) -> str:
    """One id drawn with probability proportional to its weight, walking ids in sorted order."""
    ids = sorted(weights)
    total = sum(weights[i] for i in ids)
    if total <= 0:
        raise ValueError("nothing to sample: no candidate has positive weight")
    pick = rng.randrange(total)
    for candidate_id in ids:
        pick -= weights[candidate_id]
        if pick < 0:
            return candidate_id
    raise AssertionError("unreachable")


def sample_parent(scores: Scores, rng: random.Random) -> str:
    """A candidate id drawn by `parent_weights`; deterministic for a given `rng` state.

    Raises ValueError when `scores` is empty.
    """
    return _draw(parent_weights(scores), rng)


def _unique(population: Sequence[Member]) -> list[Member]:
    """The first member of each candidate id, in population order."""
    seen: set[str] = set()
    unique: list[Member] = []
    for member in population:
        if member.candidate.id not in seen:
            seen.add(member.candidate.id)
            unique.append(member)
    return unique


def _scores_of(members: Sequence[Member]) -> dict[str, dict[str, float]]:
    return {m.candidate.id: m.evaluation.scores() for m in members}


def _quality(member: Member) -> tuple[float, int, str]:
    """Sort key, best first: higher accuracy, then shorter prompt, then lower id."""
    objectives = member.evaluation.objectives
    return (-objectives.accuracy, objectives.length_tokens, member.candidate.id)


class ParetoSelector:
    """Selector over validation evaluations (see the Selector protocol).

    Parents: drawn per-example-Pareto (GEPA), with `sample_parent`'s weights.

    Survivors, with members of the same candidate id counted once (the first is kept):
      1. the champion (highest accuracy; ties: fewest length tokens, then lowest id) always survives;
      2. then the instance-front winners (the non-dominated members best on some example, as in
         `parent_weights`), most examples won first, ties by the champion's order, while room is left;
      3. the remaining slots are filled by NSGA-II over (accuracy, -length_tokens) among the rest.
    Survivors come back in population order.
    """

    def parents(self, population: Sequence[Member], k: int, rng: random.Random) -> list[Member]:
        """`k` members (repeats allowed) drawn with `rng`; ValueError on an empty population."""
        if k <= 0:
            return []
        members = _unique(population)
        if not members:
            raise ValueError("cannot choose parents from an empty population")
        by_id = {m.candidate.id: m for m in members}
        weights = parent_weights(_scores_of(members))
        return [by_id[_draw(weights, rng)] for _ in range(k)]

    def survivors(self, population: Sequence[Member], size: int) -> list[Member]:
        """At most `size` members by the rule in the class docstring; ValueError if `size < 1`."""
        if size < 1:
            raise ValueError(f"survivor size must be at least 1, got {size}")
        members = _unique(population)
        if len(members) <= size:
            return members
        champion = min(members, key=_quality)
        winners = _front_winners(_scores_of(members))
        protected = sorted(
            (m for m in members if m.candidate.id in winners and m is not champion),
            key=lambda m: (-winners[m.candidate.id], *_quality(m)),
        )
        kept = {champion.candidate.id} | {m.candidate.id for m in protected[: size - 1]}
        rest = [m for m in members if m.candidate.id not in kept]
        points = [m.point for m in rest]
        kept |= {rest[i].candidate.id for i in nsga2_select(points, size - len(kept))}
        return [m for m in members if m.candidate.id in kept]
