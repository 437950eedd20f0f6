"""The promotion gate of online learning: a proposed playbook replaces the served one only when, replayed
on past calls with known outcomes, it beats it beyond chance, within a token budget, and its lead
does not rest on any one client's feedback. Pure logic over evaluations.

The test is the offline search's guard (`spl_opt.search.guard`): an exact one-sided sign test on the
calls where the two playbooks differ. Leaving each client out in turn defends against one client's
mislabelled outcomes: an edit that only fits what that client claims loses its lead without it (with
a single client there is no one to check it against).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import comb

from spl_opt.core.records import Evaluation, Record
from spl_opt.online.store import Replay
from spl_opt.search.guard import paired_counts, sign_test_p


class Decision(Record):
    """Whether to promote, why, and the replay numbers."""

    promote: bool
    reason: str
    replay: Replay


def _without(evaluation: Evaluation, drop: set[str]) -> Evaluation:
    kept = tuple(r for r in evaluation.results if r.example_id not in drop)
    return evaluation.model_copy(update={"results": kept})


def gate(
    current: Evaluation,
    candidate: Evaluation,
    clients: Mapping[str, str],
    *,
    tokens: int,
    current_tokens: int,
    token_budget: int,
    alpha: float,
) -> Decision:
    """Decide on `candidate` against `current`, both evaluated on the same replayed calls; `clients`
    maps each call id to the client whose feedback gave its outcome."""
    wins, losses = paired_counts(candidate, current)
    p_value = sign_test_p(wins, losses)
    replay = Replay(
        n=len(candidate.scores()),
        current=current.objectives.accuracy,
        candidate=candidate.objectives.accuracy,
        wins=wins,
        losses=losses,
        p_value=p_value,
    )

    def decide(promote: bool, reason: str) -> Decision:
        return Decision(promote=promote, reason=reason, replay=replay)

    if tokens > token_budget:
        return decide(False, f"{tokens} prompt tokens is over the budget of {token_budget}")
    if wins == losses == 0:
        if tokens < current_tokens:
            return decide(
                True,
                f"the same outcome on all {replay.n} calls, {current_tokens - tokens} tokens shorter",
            )
        return decide(False, f"no replayed call changed ({replay.n} calls)")
    if wins <= losses:
        return decide(False, f"does not beat the served playbook: {wins} wins, {losses} losses")
    if p_value > alpha:
        return decide(False, f"{wins} wins, {losses} losses: p = {p_value:.3f} > {alpha} (could be chance)")
    for client in sorted(set(clients.values())) if len(set(clients.values())) > 1 else ():
        drop = {call for call, who in clients.items() if who == client}
        w, lo = paired_counts(_without(candidate, drop), _without(current, drop))
        if w <= lo:
            return decide(
                False,
                f"the lead rests on client {client or '(anonymous)'!r}: without it {w} wins, {lo} losses",
            )
    return decide(True, f"{wins} wins, {losses} losses on {replay.n} replayed calls (p = {p_value:.3f})")


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p): how a served version's live successes compare with its
    parent's rate (`Learner.check_served`)."""
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
