"""Pure NSGA-II math. Every objective is MAXIMIZED: callers negate the ones they minimize.

A point is a sequence of floats; all points given to one call must have the same length.
Results are indices into the given `points`, and every function is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]


def _check_dimensions(points: Sequence[Point]) -> None:
    if points and len({len(p) for p in points}) != 1:
        raise ValueError("all points must have the same number of objectives")


def dominates(a: Point, b: Point) -> bool:
    """True iff `a` is at least as good as `b` on every objective and strictly better on one."""
    if len(a) != len(b):
        raise ValueError(f"points differ in length: {len(a)} != {len(b)}")
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def non_dominated_sort(points: Sequence[Point]) -> list[list[int]]:
    """Fronts of indices, best first (fast non-dominated sort, Deb et al. 2002).

    Front 0 holds the points nobody dominates; front k the points dominated only by earlier fronts.
    Equal points never dominate each other, so duplicates share a front. Each front is sorted.
    """
    _check_dimensions(points)
    n = len(points)
    dominated_by_me: list[list[int]] = [[] for _ in range(n)]
    domination_count = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominated_by_me[i].append(j)
                domination_count[j] += 1
            elif dominates(points[j], points[i]):
                dominated_by_me[j].append(i)
                domination_count[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in range(n) if domination_count[i] == 0]
    while current:
        fronts.append(current)
        following: list[int] = []
        for i in current:
            for j in dominated_by_me[i]:
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(j)
        current = sorted(following)
    return fronts


def crowding_distance(points: Sequence[Point], front: Sequence[int]) -> dict[int, float]:
    """Crowding distance of each index in `front`, computed within the front.

    Fronts of one or two points are all boundary (inf). Otherwise, per objective, the front is
    sorted by (value, index); when the objective's range is non-zero the first and last get inf
    and the others add (next - previous) / range. An objective with zero range adds nothing.
    """
    _check_dimensions(points)
    distance = dict.fromkeys(front, 0.0)
    if len(front) <= 2:
        return dict.fromkeys(front, math.inf)
    for m in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: (points[i][m], i))
        low, high = points[ordered[0]][m], points[ordered[-1]][m]
        span = high - low
        if span <= 0:
            continue
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        for before, here, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[here] += (points[after][m] - points[before][m]) / span
    return distance


def nsga2_select(points: Sequence[Point], size: int) -> list[int]:
    """Indices of `size` points chosen NSGA-II style, in selection order.

    Whole fronts are taken best first while they fit; the front that does not fit is cut by
    descending crowding distance, ties broken by lower index. Returns every index if `size >= n`.
    """
    chosen: list[int] = []
    if size <= 0:
        return chosen
    for front in non_dominated_sort(points):
        room = size - len(chosen)
        if room <= 0:
            break
        if len(front) <= room:
            chosen.extend(front)
            continue
        distance = crowding_distance(points, front)
        chosen.extend(sorted(front, key=lambda i: (-distance[i], i))[:room])
    return chosen


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Sorted indices of the non-dominated points (front 0); empty for no points."""
    fronts = non_dominated_sort(points)
    return fronts[0] if fronts else []
