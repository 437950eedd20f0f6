"""Which edit operator an iteration tries: a weighted draw steered by the evidence (pure logic).

A weight is the operator's configured base weight, scaled by its screening success so far
(Laplace-smoothed) and, for answer-format, by how many of the parent's failures are format failures:
on a small task model most early failures are answers in the wrong form, and stating the form is the
cheapest edit that fixes them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from spl_opt.config import SearchConfig
from spl_opt.core.protocols import Evidence, Operator
from spl_opt.core.records import Playbook


@dataclass
class OperatorStats:
    """How often an operator's child was screened, and how often it was accepted."""

    tried: int = 0
    accepted: int = 0


def format_share(evidence: Evidence) -> float:
    """The share of `evidence`'s failures whose outcome says the answer's form failed: nothing could be
    read, or a wrong answer stood without a final-answer marker (0 without failures)."""
    failures = evidence.failures
    return sum(f.outcome == "no_answer" for f in failures) / len(failures) if failures else 0.0


def operator_weights(
    search: SearchConfig,
    available: Mapping[str, Operator],
    stats: Mapping[str, OperatorStats],
    evidence: Evidence,
    parent: Playbook,
) -> dict[str, float]:
    """Weight per operator that is available, has a positive base weight and applies to the parent
    (`Operator.applies`: the editor needs failures, ablate strategies, merge donors); sorted by name."""
    weights: dict[str, float] = {}
    for name, base in sorted(search.operators.items()):
        if name not in available or base <= 0 or not available[name].applies(parent, evidence):
            continue
        s = stats.get(name, OperatorStats())
        boost = 1 + search.format_boost * format_share(evidence) if name == "answer-format" else 1.0
        weights[name] = base * boost * (s.accepted + 1) / (s.tried + 2)
    return weights


def choose_operator(weights: Mapping[str, float], rng: random.Random) -> str | None:
    """One operator drawn by `weights` with `rng`; None when no operator applies."""
    if not weights:
        return None
    names = list(weights)
    return rng.choices(names, [weights[n] for n in names])[0]
