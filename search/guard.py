"""The guarded final choice: a learned prompt replaces the seed only when it beats it beyond chance.

On a small validation set the best-scoring prompt is often best by luck: with 15 examples a prompt
that is no better than the seed wins by 3 or 4 examples often enough, and that lead is gone on test.
The guard pairs each member ranked above the seed with it example by example and runs an exact
one-sided sign test on the examples where they differ; the p-values are Holm-corrected for the number
of members tested, and the best member (by validation accuracy, then shorter prompt) whose corrected
p-value is at most `alpha` is chosen, else the seed. Pure logic over evaluations.
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


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: rejecting where the adjusted p is at most
    `alpha` keeps the chance of any false rejection among all the tests at most `alpha`."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def guarded_choice(members: Sequence[Member], seed: Member, alpha: float | None) -> tuple[Member, Choice]:
    """The best member that beats `seed` on validation beyond chance (or the seed); `alpha=None` takes
    the validation best unguarded. ValueError on no members.

    Every member ranked above the seed is tested against it (exact sign test) and the p-values are
    Holm-corrected for testing that many: the chance of returning a prompt that is no better than the
    seed on the validation distribution is at most `alpha`, however many members were tested."""
    if not members:
        raise ValueError("no member to choose from")
    ranked = sorted(members, key=lambda m: m.point, reverse=True)
    top = ranked[0]
    if alpha is None:
        return top, Choice(chosen=top.candidate.id, top=top.candidate.id, note="unguarded")
    above = []
    for member in ranked:
        if member.candidate.id == seed.candidate.id:
            break
        above.append(member)
    if not above:
        return seed, Choice(
            chosen=seed.candidate.id, top=top.candidate.id, note="the seed is the validation best"
        )
    counts = [paired_counts(member.evaluation, seed.evaluation) for member in above]
    adjusted = holm_adjusted([sign_test_p(wins, losses) for wins, losses in counts])
    tested = f"Holm-corrected over {len(above)} prompt{'s' if len(above) > 1 else ''}"
    for member, (wins, losses), p in zip(above, counts, adjusted, strict=True):
        if p <= alpha:
            return member, Choice(
                chosen=member.candidate.id,
                top=top.candidate.id,
                wins=wins,
                losses=losses,
                p_value=p,
                note=f"beats the seed on {wins} validation examples, loses on {losses} (p={p:.3f}, {tested})",
            )
    (wins, losses), p = counts[0], adjusted[0]
    note = (
        f"kept the seed: no learned prompt beats it beyond chance (best: {wins} wins, {losses} losses, "
        f"p={p:.3f} > {alpha}, {tested})"
    )
    return seed, Choice(
        chosen=seed.candidate.id, top=top.candidate.id, wins=wins, losses=losses, p_value=p, note=note
    )
