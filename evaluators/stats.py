"""Confidence intervals for accuracies: Wilson for 0/1 scores, normal approximation otherwise."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (low, high) for `successes` out of `n`; (0.0, 0.0) when n == 0."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return 0.0, 0.0
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def mean_ci(scores: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of `scores` at 95%: Wilson if all scores are 0 or 1, else mean ± 1.96·SE
    (clamped to [0, 1] when all scores lie there). Empty scores give (0.0, 0.0, 0.0)."""
    n = len(scores)
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = math.fsum(scores) / n
    if all(s in (0.0, 1.0) for s in scores):
        low, high = wilson_interval(math.fsum(scores), n)
        return mean, low, high
    _, low, high = difference_ci(scores)
    if all(0.0 <= s <= 1.0 for s in scores):
        low, high = max(0.0, low), min(1.0, high)
    return mean, low, high


def difference_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) at 95% of values that are differences or gains (any sign): mean ± 1.96·SE,
    never clamped and never read as a proportion. Empty values give (0.0, 0.0, 0.0)."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = math.fsum(values) / n
    if n == 1:
        return mean, mean, mean
    half = 1.96 * math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n)
    return mean, mean - half, mean + half


def paired_lead(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(lead, low, high): the mean over tasks of mean(a) - mean(b), with a 95% paired bootstrap
    interval that resamples each task's examples (a[i] and b[i] score the same example). Raises
    ValueError when a pair's lengths differ or a task has no examples."""
    if any(len(a) != len(b) or not a for a, b in pairs):
        raise ValueError("each task needs the same, non-empty examples scored for both")
    if not pairs:
        return 0.0, 0.0, 0.0
    diffs = [[x - y for x, y in zip(a, b, strict=True)] for a, b in pairs]
    lead = math.fsum(math.fsum(d) / len(d) for d in diffs) / len(diffs)
    rng = random.Random(seed)
    leads = sorted(
        math.fsum(math.fsum(rng.choices(d, k=len(d))) / len(d) for d in diffs) / len(diffs)
        for _ in range(resamples)
    )
    return lead, leads[int(0.025 * resamples)], leads[int(0.975 * resamples) - 1]
