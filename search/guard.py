"""The guarded final choice: a learned prompt replaces the seed only when it beats it beyond chance.

On a small validation set the best-scoring prompt is often best by luck: with 15 examples a prompt
that is no better than the seed wins by 3 or 4 examples often enough, and that lead is gone on test.
The guard pairs each member with the seed example by example and runs an exact one-sided sign test
on the examples where they differ; the best member (by validation accuracy, then shorter prompt)
whose p-value is at most `alpha` is chosen, else the seed. Pure logic over evaluations.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

from pydantic import Field

from spl_opt.core.protocols import Member
from spl_opt.core.records import Evaluation, Record


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: P(X >= wins) for X ~ Binomial(wins + losses, 1/2); 1.0 with no
    discordant example."""
    if wins < 0 or losses < 0:
        raise ValueError(f"counts must be >= 0, got {wins} wins and {losses} losses")
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n


def paired_counts(challenger: Evaluation, incumbent: Evaluation) -> tuple[int, int]:
    """(wins, losses) of `challenger` against `incumbent` on the examples both were scored on."""
    theirs = incumbent.scores()
    mine = challenger.scores()
    shared = sorted(set(mine) & set(theirs))
    wins = sum(1 for e in shared if mine[e] > theirs[e])
    losses = sum(1 for e in shared if mine[e] < theirs[e])
    return wins, losses


class Choice(Record):
    """The chosen member's id, the validation best's id, and why they differ (or not)."""

    chosen: str
    top: str
    wins: int = 0
    losses: int = 0
    p_value: float = Field(1.0, ge=0, le=1)
    note: str = ""


def validation_rank(member: Member) -> tuple[float, int]:
    """Sort key, best last: validation accuracy, then shorter prompt."""
    return (member.evaluation.objectives.accuracy, -member.evaluation.objectives.length_tokens)


def guarded_choice(members: Sequence[Member], seed: Member, alpha: float | None) -> tuple[Member, Choice]:
    """The best member that beats `seed` on validation with sign-test p <= `alpha` (or is the seed);
    `alpha=None` takes the validation best unguarded. ValueError on no members."""
    if not members:
        raise ValueError("no member to choose from")
    ranked = sorted(members, key=validation_rank, reverse=True)
    top = ranked[0]
    if alpha is None:
        return top, Choice(chosen=top.candidate.id, top=top.candidate.id, note="unguarded")
    best_try: tuple[int, int, float] | None = None  # the validation best's counts, for the note
    for member in ranked:
        if member.candidate.id == seed.candidate.id:
            break
        wins, losses = paired_counts(member.evaluation, seed.evaluation)
        p = sign_test_p(wins, losses)
        best_try = best_try or (wins, losses, p)
        if p <= alpha:
            return member, Choice(
                chosen=member.candidate.id,
                top=top.candidate.id,
                wins=wins,
                losses=losses,
                p_value=p,
                note=f"beats the seed on {wins} validation examples, loses on {losses} (p={p:.3f})",
            )
    if best_try is None:
        return seed, Choice(
            chosen=seed.candidate.id, top=top.candidate.id, note="the seed is the validation best"
        )
    wins, losses, p = best_try
    note = (
        f"kept the seed: no learned prompt beats it beyond chance (best: {wins} wins, {losses} losses, "
        f"p={p:.3f} > {alpha})"
    )
    return seed, Choice(
        chosen=seed.candidate.id, top=top.candidate.id, wins=wins, losses=losses, p_value=p, note=note
    )
